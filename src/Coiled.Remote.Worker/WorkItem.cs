using Coiled.Remote.Stubs;
using Coiled.Remote.Transport;

namespace Coiled.Remote.Worker;

/// <summary>
/// One task waiting for an execution slot. <paramref name="Lease"/> is the task's hold on the pooled array its
/// arguments point into (bulk-data arguments), released once the task ran or was dropped.
/// </summary>
internal readonly record struct WorkItem(ulong TaskId, RemoteStub Stub, ReadOnlyMemory<byte> Arguments, RentedBuffer? Lease = null);
