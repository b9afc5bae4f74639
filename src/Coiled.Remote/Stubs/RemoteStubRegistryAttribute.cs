using System.ComponentModel;

namespace Coiled.Remote.Stubs;

/// <summary>
/// Names the generated registry of an assembly's [Remote] stubs. Emitted by the Coiled.Remote source generator;
/// not meant to be written by hand.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = false)]
public sealed class RemoteStubRegistryAttribute : Attribute
{
    /// <summary>Creates the attribute.</summary>
    /// <param name="registryType">A type deriving from <see cref="RemoteStubRegistry"/> with a public parameterless constructor.</param>
    public RemoteStubRegistryAttribute(Type registryType) => RegistryType = registryType;

    /// <summary>The generated registry type.</summary>
    public Type RegistryType { get; }
}
