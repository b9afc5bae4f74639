using Coiled.Remote.Transport.Protocol;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// A result batch sorted under the scheduler's lock, to hand out outside it: <paramref name="Owners"/> holds, for each
/// result, the task of a live call it belongs to or null (a pooled array, returned once the results are handed out).
/// </summary>
/// <param name="Owners">Per result, its task, or null when nobody waits for it any more.</param>
/// <param name="Delivered">How many of <paramref name="Owners"/> are not null.</param>
/// <param name="Retried">Failures that go round again.</param>
/// <param name="Failures">Failures that end their item, if any.</param>
/// <param name="Traced">Failures of traced calls, to trace, if any.</param>
/// <param name="Returned">Tasks the worker gave back unrun (it retires), to queue again, if any.</param>
internal readonly record struct CompletedBatch(
    PendingTask?[] Owners,
    int Delivered,
    int Retried,
    List<(PendingTask Task, TaskFailure Failure)>? Failures,
    List<(PendingTask Task, TaskFailure Failure)>? Traced,
    List<PendingTask>? Returned = null);
