using Xunit.Abstractions;
using Xunit.Sdk;

namespace Coiled.Remote.Tests.Support;

/// <summary>Gives a platform fact or theory (<see cref="LinuxFactAttribute"/>, <see cref="UnixFactAttribute"/>, <see cref="WindowsFactAttribute"/>, ...) the trait <c>Requires=&lt;platform&gt;</c>.</summary>
public sealed class RequiresTraitDiscoverer : ITraitDiscoverer
{
    public const string TypeName = "Coiled.Remote.Tests.Support.RequiresTraitDiscoverer";

    public const string AssemblyName = "Coiled.Remote.Tests";

    public IEnumerable<KeyValuePair<string, string>> GetTraits(IAttributeInfo traitAttribute)
        => [new("Requires", traitAttribute.GetNamedArgument<string>("Requires"))];
}
