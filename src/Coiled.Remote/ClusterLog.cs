using Microsoft.Extensions.Logging;

namespace Coiled.Remote;

// Event ids by area: worker daemon 1000-1099, executors 1100-1199, EC2 2000-2999, synchronization 3000-3099,
// backends 3100-3199, scheduler 4000-4099 (Scheduling/SchedulerLog.cs), cluster 4100-4149 (this file), named clusters
// 4150-4169 (KeptClusters/KeptClusterLog.cs), dashboard 4200-4219 (Dashboard/DashboardLog.cs, and DashboardServerLog.cs
// in Coiled.Remote.Dashboard).

/// <summary>The cluster's log lines: starting and closing, replacing lost workers, and the calls it runs (event ids 4100-4149).</summary>
internal static partial class ClusterLog
{
    [LoggerMessage(EventId = 4100, Level = LogLevel.Information, Message =
        "Cluster started on {Backend} in {TotalMs:0} ms with {Count} of {Requested} worker(s); sent {Blobs} file(s), {Bytes} byte(s)")]
    public static partial void ClusterStarted(this ILogger logger, string backend, double totalMs, int count, int requested, int blobs, long bytes);

    [LoggerMessage(EventId = 4101, Level = LogLevel.Warning, Message = "Environment variable {Name} is not set in this process; it is not forwarded to the workers")]
    public static partial void VariableNotForwarded(this ILogger logger, string name);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Information, Message =
        "Cluster closed: {TasksRun} task(s) run, {TasksFailed} failed, {TasksRetried} retried; " +
        "{Workers} worker(s) for {Seconds:0} s, busy {BusyPercent:0} %{IdleCost}; " +
        "{WorkerSeconds:0.0} worker-seconds ({BusyWorkerSeconds:0.0} busy, {PaidWorkerSeconds:0.0} paid); " +
        "{BytesMoved} byte(s) moved (arguments {ArgumentBytes}, results {ResultBytes}, synchronization {SyncBytes}); cost {Cost}")]
    public static partial void ClusterClosed(
        this ILogger logger, long tasksRun, long tasksFailed, long tasksRetried,
        int workers, double seconds, double busyPercent, string idleCost,
        double workerSeconds, double busyWorkerSeconds, double paidWorkerSeconds,
        long bytesMoved, long argumentBytes, long resultBytes, long syncBytes, string cost);

    [LoggerMessage(EventId = 4130, Level = LogLevel.Warning, Message =
        "{Idle} of {Ready} worker(s) have had no task for {After} or more (the first since {Since:u}) while the cluster is kept; " +
        "they cost {HourlyCost} an hour. Dispose the cluster when its work is done, or let it retire idle workers with cluster.Adapt(minimum, maximum)")]
    public static partial void IdleWorkersCosting(this ILogger logger, int idle, int ready, string after, DateTimeOffset since, string hourlyCost);

    [LoggerMessage(EventId = 4131, Level = LogLevel.Warning, Message =
        "{Idle} of {Ready} worker(s) have had no task for {After} or more (the first since {Since:u}) while the cluster is kept; " +
        "they run on {Machines} machine(s), with {Cores} core(s) in all. Dispose the cluster when its work is done, or let it retire idle workers with cluster.Adapt(minimum, maximum)")]
    public static partial void IdleWorkers(this ILogger logger, int idle, int ready, string after, DateTimeOffset since, int machines, int cores);

    [LoggerMessage(EventId = 4110, Level = LogLevel.Debug, Message =
        "Worker {WorkerId} at {Address}: {Slots} slot(s), {MemoryBytes} byte(s) of memory, {Os} {Architecture}, process {ProcessId}, Coiled.Remote {Version}")]
    public static partial void WorkerJoined(
        this ILogger logger, string workerId, Uri address, int slots, long memoryBytes, string os, string architecture, int processId, string version);

    [LoggerMessage(EventId = 4111, Level = LogLevel.Warning, Message = "Worker {Lost} ended ({How}); replaced by worker {WorkerId} at {Address}")]
    public static partial void WorkerReplaced(this ILogger logger, string lost, string how, string workerId, Uri address);

    [LoggerMessage(EventId = 4112, Level = LogLevel.Error, Message = "Worker {Lost} ended ({How}) and could not be replaced")]
    public static partial void WorkerNotReplaced(this ILogger logger, Exception exception, string lost, string how);

    [LoggerMessage(EventId = 4113, Level = LogLevel.Warning, Message =
        "{Workers} worker(s) ({Address}) did not come; the cluster goes on with the {Ready} of {Requested} that did: {Reason}")]
    public static partial void WorkersDidNotCome(this ILogger logger, Exception exception, int workers, string address, int ready, int requested, string reason);

    [LoggerMessage(EventId = 4116, Level = LogLevel.Information, Message = "Scaling from {From} to {To} worker(s): {Reason}")]
    public static partial void Scaling(this ILogger logger, int from, int to, string reason);

    [LoggerMessage(EventId = 4117, Level = LogLevel.Information, Message = "Worker {WorkerId} at {Address} joined ({Added} of {Count} added)")]
    public static partial void WorkerAdded(this ILogger logger, string workerId, Uri address, int added, int count);

    [LoggerMessage(EventId = 4118, Level = LogLevel.Information, Message = "Adapting between {Minimum} and {Maximum} worker(s), retiring workers idle for {Seconds:0} s")]
    public static partial void Adapting(this ILogger logger, int minimum, int maximum, double seconds);

    [LoggerMessage(EventId = 4119, Level = LogLevel.Warning, Message = "Scaling from {From} to {To} worker(s) failed ({Message}); the cluster goes on with what it has and looks again")]
    public static partial void AdaptFailed(this ILogger logger, Exception exception, int from, int to, string message);

    [LoggerMessage(EventId = 4115, Level = LogLevel.Warning, Message = "Worker {WorkerId} ended and its backend could not stop its machine now ({Message}); disposing the cluster stops it")]
    public static partial void WorkerNotStopped(this ILogger logger, Exception exception, string workerId, string message);

    [LoggerMessage(EventId = 4114, Level = LogLevel.Information, Message = "Worker {WorkerId} at {Address} joined the running cluster ({Ready} of {Requested} worker(s))")]
    public static partial void WorkerJoinedLate(this ILogger logger, string workerId, Uri address, int ready, int requested);

    [LoggerMessage(EventId = 4120, Level = LogLevel.Debug, Message = "{Operation} {Method}: {Count} item(s) in {ElapsedMs:0} ms")]
    public static partial void CallCompleted(this ILogger logger, string operation, string method, int count, double elapsedMs);

    [LoggerMessage(EventId = 4121, Level = LogLevel.Debug, Message = "{Operation} {Method} of {Count} item(s) failed after {ElapsedMs:0} ms: {Error}")]
    public static partial void CallFailed(this ILogger logger, string operation, string method, int count, double elapsedMs, string error);

    [LoggerMessage(EventId = 4122, Level = LogLevel.Debug, Message =
        "map_stream {Method}: {Count} result(s) read, {Outcome}; at most {PeakItems} item(s) and {PeakBytes} byte(s) in flight")]
    public static partial void StreamEnded(this ILogger logger, string method, long count, string outcome, long peakItems, long peakBytes);
}
