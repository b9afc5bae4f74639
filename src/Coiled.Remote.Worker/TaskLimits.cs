namespace Coiled.Remote.Worker;

/// <summary>What bounds the tasks a <see cref="TaskExecutor"/> runs.</summary>
/// <param name="TimeoutGrace">
/// How long a task with a timeout may keep running after its token was cancelled before it is failed, and its process,
/// when it may be recycled, replaced (a method that ignores its token would otherwise hold a slot forever).
/// </param>
/// <param name="MaxResultBytes">Largest result a task may return; larger ones fail the task instead of breaking the stream.</param>
/// <param name="CollectAfterLargeTasks">
/// Whether the process is the tasks' own (an executor), so that a full garbage collection may follow large tasks; an
/// in-process worker never collects the heap of the application it is in.
/// </param>
internal sealed record TaskLimits(TimeSpan TimeoutGrace, int MaxResultBytes, bool CollectAfterLargeTasks);
