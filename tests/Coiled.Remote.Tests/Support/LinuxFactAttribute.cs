using Xunit.Sdk;

namespace Coiled.Remote.Tests.Support;

/// <summary>
/// A fact that needs Linux (workers that run linux-x64 or linux-arm64, /proc); skipped, with
/// that reason, elsewhere. Carries the trait <c>Requires=Linux</c>, so <c>--filter Requires!=Linux</c> leaves them out.
/// </summary>
[TraitDiscoverer(RequiresTraitDiscoverer.TypeName, RequiresTraitDiscoverer.AssemblyName)]
public sealed class LinuxFactAttribute : FactAttribute, ITraitAttribute
{
    public LinuxFactAttribute()
    {
        if (!OperatingSystem.IsLinux())
        {
            Skip = "needs Linux; on this platform it is verified by CI's Linux run";
        }
    }

    /// <summary>The platform the fact needs, as its trait says.</summary>
    public string Requires => "Linux";
}
