using Xunit.Sdk;

namespace Coiled.Remote.Tests.Support;

/// <summary>A theory that needs Linux (/proc); skipped, with that reason, elsewhere. Carries the trait <c>Requires=Linux</c>.</summary>
[TraitDiscoverer(RequiresTraitDiscoverer.TypeName, RequiresTraitDiscoverer.AssemblyName)]
public sealed class LinuxTheoryAttribute : TheoryAttribute, ITraitAttribute
{
    public LinuxTheoryAttribute()
    {
        if (!OperatingSystem.IsLinux())
        {
            Skip = "needs Linux; on this platform it is verified by CI's Linux run";
        }
    }

    /// <summary>The platform the theory needs, as its trait says.</summary>
    public string Requires => "Linux";
}
