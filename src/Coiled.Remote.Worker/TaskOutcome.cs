using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;

namespace Coiled.Remote.Worker;

/// <summary>
/// How one task ended on the worker: a MessagePack result, or a failure. A large result stays in the pooled array it
/// was serialized into, held by <paramref name="Lease"/> until it is sent.
/// </summary>
internal readonly record struct TaskOutcome(ulong TaskId, ReadOnlyMemory<byte> Result, TaskFailure? Failure, long ElapsedNanoseconds, RentedBuffer? Lease = null);
