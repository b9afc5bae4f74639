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

    public string ClusterId => clusterId;

    /// <summary>Bytes of task arguments sent to workers.</summary>
    public long ArgumentBytes => Interlocked.Read(ref _argumentBytes);

    /// <summary>Bytes of task results received from workers.</summary>
    public long ResultBytes => Interlocked.Read(ref _resultBytes);

    /// <summary>Results that reached a live call.</summary>
    public long TasksDone => Interlocked.Read(ref _done);

    public long TasksFailed => Interlocked.Read(ref _failed);

    public long TasksRetried => Interlocked.Read(ref _retried);

    /// <summary>Tasks that were in flight on a worker that was lost and went back to the queue to run elsewhere.</summary>
    public long TasksRequeued => Interlocked.Read(ref _requeued);

    /// <summary>A batch of arguments went to a worker (scheduler lock).</summary>
    public void ArgumentsSent(int bytes)
    {
        _argumentBytes += bytes;
        RemoteTelemetry.ArgumentBytes.Add(bytes, _clusterTag);
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
