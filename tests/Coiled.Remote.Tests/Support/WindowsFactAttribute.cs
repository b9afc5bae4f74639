using Xunit.Sdk;

namespace Coiled.Remote.Tests.Support;

/// <summary>
/// A fact about Windows alone (file sharing modes, read-only attributes); skipped, with that reason, elsewhere.
/// Carries the trait <c>Requires=Windows</c>.
/// </summary>
[TraitDiscoverer(RequiresTraitDiscoverer.TypeName, RequiresTraitDiscoverer.AssemblyName)]
public sealed class WindowsFactAttribute : FactAttribute, ITraitAttribute
{
    public WindowsFactAttribute()
    {
        if (!OperatingSystem.IsWindows())
        {
            Skip = "needs Windows; verified by CI's Windows run";
        }
    }

    /// <summary>The platform the fact needs, as its trait says.</summary>
    public string Requires => "Windows";
}
