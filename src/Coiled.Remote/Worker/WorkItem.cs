using Coiled.Remote.Stubs;

namespace Coiled.Remote.Worker;

/// <summary>One task waiting for an execution slot.</summary>
internal readonly record struct WorkItem(ulong TaskId, RemoteStub Stub, ReadOnlyMemory<byte> Arguments);
