using Coiled.Remote.Transport.Protocol;

namespace Coiled.Remote.Scheduling;

/// <summary>The exceptions a call fails with when its tasks cannot finish: what happened, where, and what to do.</summary>
internal static class TaskFailures
{
    /// <summary>A task the worker reported as failed, as the caller sees it.</summary>
    public static Exception From(TaskFailure failure, PendingTask task, string workerId)
    {
        var method = task.Job.Stub.DisplayName;
        return failure.Kind switch
        {
            FailureKind.UnknownMethod => new EnvironmentSyncException(
                $"Worker {workerId} cannot run {method} (item {task.Index}): {failure.Message}"),
            FailureKind.Canceled when task.Job.CancellationToken.IsCancellationRequested => new OperationCanceledException(task.Job.CancellationToken),
            _ => new RemoteException(method, failure.ExceptionType, failure.Message, failure.StackTrace, workerId, task.Index),
        };
    }

    /// <summary>A worker sent a result batch that cannot be read.</summary>
    public static RemoteException UnreadableResults(PendingTask task, string workerId, Exception error)
        => new(task.Job.Stub.DisplayName, error.GetType().FullName!, $"Worker {workerId} sent results that are not valid MessagePack: {error.Message}",
            string.Empty, workerId, task.Index);

    /// <summary>A poison task: it was running in <see cref="ClusterOptions.MaxWorkerDeaths"/> processes that died.</summary>
    public static WorkerLostException Poisoned(PendingTask task, IReadOnlyList<string> deaths, int maxWorkerDeaths)
        => new(
            $"{task.Job.Stub.DisplayName} item {task.Index} was running in {deaths.Count} worker processes that died " +
            $"(MaxWorkerDeaths = {maxWorkerDeaths}): {string.Join("; ", deaths)}. " +
            "The item likely crashes the process that runs it (stack overflow, out of memory, Environment.Exit or native code); fix the method or the item.",
            task.Job.Stub.DisplayName, task.Index, deaths);

    /// <summary>A call submitted after the cluster lost its last worker for good.</summary>
    public static WorkerLostException NoWorkersToStart(Job job, string why)
        => new($"The cluster has no workers left to run {job.Stub.DisplayName}: {why} Start a new cluster.", job.Stub.DisplayName, 0, []);

    /// <summary>A running call, when the cluster lost its last worker and gets none back.</summary>
    public static WorkerLostException NoWorkersToFinish(Job job, string why)
        => new($"The cluster has no workers left, so {job.Stub.DisplayName} cannot finish: {why} Start a new cluster.", job.Stub.DisplayName, 0, []);

    /// <summary>A running call, when the last worker of a cluster that does not replace workers ended.</summary>
    public static WorkerLostException EveryWorkerGone(Job job, string lastWorkerId, string how)
        => new(
            $"Every worker of the cluster is gone (the last, {lastWorkerId}, ended: {how}); {job.Stub.DisplayName} cannot finish. Start a new cluster.",
            job.Stub.DisplayName, 0, [$"{lastWorkerId}: {how}"]);
}
