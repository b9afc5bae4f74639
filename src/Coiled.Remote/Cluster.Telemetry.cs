using System.Security.Cryptography;
using Coiled.Remote.Scheduling;
using Coiled.Remote.Telemetry;

namespace Coiled.Remote;

public sealed partial class Cluster
{
    private long _syncBytes;
    private long _startedAt;
    private ClusterSummary? _closedSummary;

    /// <summary>
    /// What the cluster has done so far: tasks run, failed, retried and requeued, worker-seconds (connected, busy and paid
    /// for, and the idle share), bytes moved (and saved by sending repeated arguments once) and cost, and what idle
    /// machines cost, where the backend knows it. Final once the cluster is disposed; <see cref="DisposeAsync"/> also logs it.
    /// </summary>
    public ClusterSummary Summary => Volatile.Read(ref _closedSummary) ?? CurrentSummary();

    /// <summary>A random id per cluster, tagged on its activities and measurements.</summary>
    internal string Id => _scheduler.Metrics.ClusterId;

    internal KeyValuePair<string, object?> Tag => new(RemoteTelemetry.ClusterTag, _scheduler.Metrics.ClusterId);

    internal Scheduler Scheduler => _scheduler;

    /// <summary>Every connection the cluster made, lost ones included.</summary>
    internal IReadOnlyList<WorkerConnection> Connections
    {
        get
        {
            lock (_connections)
            {
                return [.. _connections];
            }
        }
    }

    private static string NewClusterId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));

    /// <summary>The cluster is started: count what synchronization sent, report progress while calls run, show up in metrics.</summary>
    private void OnStarted()
    {
        _startedAt = _options.TimeProvider.GetTimestamp();
        OnSynchronized(_session.Sync.BytesSent);
        foreach (var connection in Connections)
        {
            LogWorker(connection);
        }

        RemoteTelemetry.Register(this);
    }

    /// <summary>What reports the cluster's progress while calls run; null unless the options ask for progress.</summary>
    private static ClusterProgressReporter? ProgressReporter(ClusterOptions options, int workersRequested)
        => options.Progress is { } progress ? new ClusterProgressReporter(progress, workersRequested, options.TimeProvider) : null;

    private void OnSynchronized(long bytes)
    {
        Interlocked.Add(ref _syncBytes, bytes);
        RemoteTelemetry.SyncBytes.Add(bytes, Tag);
    }

    private void LogWorker(WorkerConnection connection)
        => _logger.WorkerJoined(
            connection.Id, connection.Endpoint.Address, connection.Slots, connection.Hello.MemoryBytes, connection.Hello.OsDescription,
            connection.Hello.Architecture, connection.Hello.ProcessId, connection.Hello.LibraryVersion);

    /// <summary>Every worker and machine is stopped: freeze the summary and log it.</summary>
    private void OnClosed()
    {
        RemoteTelemetry.Unregister(this);
        var summary = CurrentSummary();
        Volatile.Write(ref _closedSummary, summary);
        _logger.ClusterClosed(
            summary.TasksRun, summary.TasksFailed, summary.TasksRetried,
            Connections.Count, (_session.Sync.Elapsed + _options.TimeProvider.GetElapsedTime(_startedAt)).TotalSeconds,
            100 * (1 - summary.IdleShare), summary.IdleCost is { } idleCost ? $", idle cost {Dollars(idleCost)}" : string.Empty,
            summary.WorkerSeconds, summary.BusyWorkerSeconds, summary.PaidWorkerSeconds,
            summary.BytesMoved, summary.ArgumentBytes, summary.ResultBytes, summary.SyncBytes,
            summary.Cost is { } cost ? Dollars(cost) : "unknown");
    }

    /// <summary>An amount of US dollars as the cluster's log lines show it: <c>$0.0003</c>.</summary>
    private static string Dollars(decimal amount) => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"${amount:0.0000}");

    private ClusterSummary CurrentSummary()
    {
        var failed = _scheduler.Metrics.TasksFailed;
        var workerSeconds = Connections.Sum(c => c.ConnectedTime.TotalSeconds);
        return new ClusterSummary(
            _scheduler.Metrics.TasksDone + failed,
            failed,
            _scheduler.Metrics.TasksRetried,
            workerSeconds,
            _scheduler.Metrics.ArgumentBytes,
            _scheduler.Metrics.ResultBytes,
            Interlocked.Read(ref _syncBytes),
            _backend.Cost)
        {
            TasksRequeued = _scheduler.Metrics.TasksRequeued,
            ArgumentBytesSaved = _scheduler.Metrics.ArgumentBytesSaved,
            SharedValueBytesStaged = _scheduler.Metrics.SharedValueBytesStaged,
            BusyWorkerSeconds = _scheduler.BusyWorkerSeconds(),
            PaidWorkerSeconds = _backend is IBillingBackend billing ? billing.PaidSeconds : workerSeconds,
        };
    }
}
