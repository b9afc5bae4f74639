using Xunit.Sdk;

namespace Coiled.Remote.Tests.Support;

/// <summary>
/// A fact about Unix file modes or signals (SIGKILL, SIGSTOP, SIGTERM); skipped, with that reason, on Windows. Carries
/// the trait <c>Requires=Unix</c>.
/// </summary>
[TraitDiscoverer(RequiresTraitDiscoverer.TypeName, RequiresTraitDiscoverer.AssemblyName)]
public sealed class UnixFactAttribute : FactAttribute, ITraitAttribute
{
    public UnixFactAttribute()
    {
        if (OperatingSystem.IsWindows())
        {
            Skip = "Unix file modes and signals do not exist on Windows";
        }
    }

    /// <summary>The platform the fact needs, as its trait says.</summary>
    public string Requires => "Unix";
}
