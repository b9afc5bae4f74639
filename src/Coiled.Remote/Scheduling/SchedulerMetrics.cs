using Coiled.Remote.Telemetry;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// What the scheduler has done, counted for the cluster's summary and progress, and recorded as the cluster's
/// measurements (tagged with its id and the worker's).
/// </summary>
internal sealed class SchedulerMetrics(string clusterId)
{
    private readonly KeyValuePair<string, object?> _clusterTag = new(RemoteTelemetry.ClusterTag, clusterId);
    private long _done;
    private long _failed;
    private long _retried;
    private long _requeued;
    private long _argumentBytes;
    private long _resultBytes;
    private long _sharingSaved;
    private long _sharedStaged;

    public string ClusterId => clusterId;

    /// <summary>Bytes of task arguments sent to workers.</summary>
    public long ArgumentBytes => Interlocked.Read(ref _argumentBytes);

    /// <summary>Bytes of arguments not sent because repeated argument values went to each worker once.</summary>
    public long ArgumentBytesSaved => Interlocked.Read(ref _sharingSaved);

    /// <summary>Bytes of task results received from workers.</summary>
    public long ResultBytes => Interlocked.Read(ref _resultBytes);

    /// <summary>Results that reached a live call.</summary>
    public long TasksDone => Interlocked.Read(ref _done);

    public long TasksFailed => Interlocked.Read(ref _failed);

    public long TasksRetried => Interlocked.Read(ref _retried);

    /// <summary>Tasks that were in flight on a worker that was lost and went back to the queue to run elsewhere.</summary>
    public long TasksRequeued => Interlocked.Read(ref _requeued);

    /// <summary>A batch of arguments went to a worker (scheduler lock).</summary>
    public void ArgumentsSent(long bytes)
    {
        Interlocked.Add(ref _argumentBytes, bytes);
        RemoteTelemetry.ArgumentBytes.Add(bytes, _clusterTag);
    }

    /// <summary>Bytes of shared values workers fetched from the cluster's staging storage, once per worker that fetched them.</summary>
    public long SharedValueBytesStaged => Interlocked.Read(ref _sharedStaged);

    /// <summary>A worker fetched a shared value of <paramref name="bytes"/> from the cluster's staging storage (any thread).</summary>
    public void SharedValueStaged(long bytes) => Interlocked.Add(ref _sharedStaged, bytes);

    /// <summary>Shared values sent to workers, a value sent again after a worker dropped it (or was replaced) counting again.</summary>
    public long SharedValuesSent { get; private set; }

    /// <summary>Shared values workers were told to drop to make room for others.</summary>
    public long SharedValuesDropped { get; private set; }

    /// <summary>The most bytes of shared values one worker was to hold at once.</summary>
    public long SharedValueBytesPeak { get; private set; }

    /// <summary>
    /// Shared values went to a worker before a batch (scheduler lock): <paramref name="sent"/> of them, after it was told
    /// to drop <paramref name="dropped"/>, so that it then holds <paramref name="held"/> bytes of them; and the batch's
    /// references stood for <paramref name="saved"/> bytes more than the values sent (negative when a value goes to a
    /// worker with the first batch that refers to it).
    /// </summary>
    public void SharedValuesMoved(int sent, int dropped, long held, long saved)
    {
        SharedValuesSent += sent;
        SharedValuesDropped += dropped;
        SharedValueBytesPeak = Math.Max(SharedValueBytesPeak, held);
        _sharingSaved += saved;
    }

    /// <summary>
    /// A result batch arrived from <paramref name="worker"/>: <paramref name="delivered"/> results reached live calls,
    /// <paramref name="retried"/> failures go round again, and <paramref name="tasks"/> tasks ran in <paramref name="nanoseconds"/>.
    /// </summary>
    public void ResultsArrived(ITaskWorker worker, int delivered, int retried, int resultBytes, ulong nanoseconds, int tasks)
    {
        // Only results that reach a live call count as done, like failures: a result that arrives after its call ended
        // (cancelled, or failed by another item) is dropped and counted nowhere, so the counts do not depend on timing.
        Interlocked.Add(ref _done, delivered);
        if (retried > 0)
        {
            Interlocked.Add(ref _retried, retried);
            RemoteTelemetry.TasksRetried.Add(retried, _clusterTag, worker.Tag);
        }

        Interlocked.Add(ref _resultBytes, resultBytes);
        RemoteTelemetry.TasksDone.Add(delivered, _clusterTag, worker.Tag);
        RemoteTelemetry.ResultBytes.Add(resultBytes, _clusterTag);
        RecordDurations(worker, nanoseconds, tasks);
    }

    /// <summary><paramref name="count"/> tasks failed for good on <paramref name="worker"/>.</summary>
    public void Failed(ITaskWorker worker, int count)
    {
        Interlocked.Add(ref _failed, count);
        RemoteTelemetry.TasksFailed.Add(count, _clusterTag, worker.Tag);
    }

    /// <summary><paramref name="count"/> tasks of a lost worker (or executor) went back to the queue.</summary>
    public void Requeued(int count) => Interlocked.Add(ref _requeued, count);

    /// <summary>A worker joined (<paramref name="up"/>) or was retired because the cluster scaled.</summary>
    public void Scaled(bool up)
        => RemoteTelemetry.WorkersScaled.Add(1, _clusterTag, new KeyValuePair<string, object?>("direction", up ? "up" : "down"));

    /// <summary>A warning was logged: workers idle while the cluster is kept.</summary>
    public void IdleWarned() => RemoteTelemetry.IdleWarnings.Add(1, _clusterTag);

    /// <summary>A warning was logged: the worker's memory passed 90 % of its machine's.</summary>
    public void MemoryWarned(ITaskWorker worker) => RemoteTelemetry.MemoryWarnings.Add(1, _clusterTag, worker.Tag);

    /// <summary>A warning was logged: the worker spent more than a fifth of its time in garbage collection.</summary>
    public void ThrashingWarned(ITaskWorker worker) => RemoteTelemetry.ThrashingWarnings.Add(1, _clusterTag, worker.Tag);

    /// <summary>The worker reports one execution time per batch, so each of its tasks records the batch's average.</summary>
    private void RecordDurations(ITaskWorker worker, ulong nanoseconds, int tasks)
    {
        if (!RemoteTelemetry.TaskDuration.Enabled || tasks == 0)
        {
            return;
        }

        var seconds = nanoseconds / 1e9 / tasks;
        for (var i = 0; i < tasks; i++)
        {
            RemoteTelemetry.TaskDuration.Record(seconds, _clusterTag, worker.Tag);
        }
    }
}
