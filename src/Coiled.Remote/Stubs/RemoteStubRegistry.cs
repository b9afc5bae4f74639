using System.ComponentModel;

namespace Coiled.Remote.Stubs;

/// <summary>
/// The [Remote] stubs of one assembly. The source generator emits exactly one subclass per assembly and names it
/// with <see cref="RemoteStubRegistryAttribute"/>; the client and the worker both find stubs through it.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public abstract class RemoteStubRegistry
{
    /// <summary>Creates one instance of every stub in the assembly.</summary>
    public abstract IReadOnlyList<RemoteStub> CreateStubs();
}
