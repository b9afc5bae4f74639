using Coiled.Remote.Transport.Protocol;

namespace Coiled.Remote.Worker;

/// <summary>How one task ended on the worker: a MessagePack result, or a failure.</summary>
internal readonly record struct TaskOutcome(ulong TaskId, byte[]? Result, TaskFailure? Failure, long ElapsedNanoseconds);
