using Xunit.Sdk;

namespace Coiled.Remote.Tests.Support;

/// <summary>A theory about Unix signals; skipped, with that reason, on Windows. Carries the trait <c>Requires=Unix</c>.</summary>
[TraitDiscoverer(RequiresTraitDiscoverer.TypeName, RequiresTraitDiscoverer.AssemblyName)]
public sealed class UnixTheoryAttribute : TheoryAttribute, ITraitAttribute
{
    public UnixTheoryAttribute()
    {
        if (OperatingSystem.IsWindows())
        {
            Skip = "Unix file modes and signals do not exist on Windows";
        }
    }

    /// <summary>The platform the theory needs, as its trait says.</summary>
    public string Requires => "Unix";
}
