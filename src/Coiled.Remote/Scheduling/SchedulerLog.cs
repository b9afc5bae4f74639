using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Scheduling;

// Event ids by area: worker daemon 1000-1099, executors 1100-1199, EC2 2000-2999, synchronization 3000-3099,
// backends 3100-3199, scheduler 4000-4099 (this file), cluster 4100-4199 (ClusterLog.cs).

/// <summary>The scheduler's log lines: workers and executors lost, tasks retried or failed for good (event ids 4000-4099).</summary>
internal static partial class SchedulerLog
{
    [LoggerMessage(EventId = 4000, Level = LogLevel.Warning, Message = "Worker {WorkerId} at {Address} was lost: {How}; {Count} task(s) go back to the queue")]
    public static partial void WorkerLost(this ILogger logger, string workerId, Uri address, string how, int count);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "Worker {WorkerId} at {Address}: {How}; {Count} task(s) go back to the queue")]
    public static partial void ExecutorLost(this ILogger logger, string workerId, Uri address, string how, int count);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "Worker {WorkerId} at {Address} is being reclaimed: its cloud will {Action} its machine at {Time} (a spot interruption notice); {Count} task(s) go back to the queue, with no worker death counted against them")]
    public static partial void WorkerInterrupted(this ILogger logger, string workerId, Uri address, string action, string time, int count);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning, Message = "Worker {WorkerId} at {Address}: its cloud recommends moving work off its machine (a rebalance recommendation of {Time}); it keeps its tasks, and an interruption notice may follow")]
    public static partial void RebalanceRecommended(this ILogger logger, string workerId, Uri address, string time);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Information, Message = "Worker {WorkerId} at {Address} retired: its last task ended")]
    public static partial void WorkerRetired(this ILogger logger, string workerId, Uri address);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Warning, Message = "Worker {WorkerId} at {Address} stays instead of retiring: every other worker is gone")]
    public static partial void RetirementCancelled(this ILogger logger, string workerId, Uri address);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Error, Message = "The cluster has no workers left and gets none back: {Why} {Jobs} call(s) fail")]
    public static partial void NoWorkersLeft(this ILogger logger, string why, int jobs);

    [LoggerMessage(EventId = 4010, Level = LogLevel.Error, Message = "{Method} item {Index} fails: it was running in {Deaths} worker processes that died")]
    public static partial void ItemPoisoned(this ILogger logger, string method, int index, int deaths);

    [LoggerMessage(EventId = 4030, Level = LogLevel.Warning, Message = "Shared value {Hash} ({Bytes} bytes) goes to worker {WorkerId} over its connection: the cluster's staging storage failed ({Error})")]
    public static partial void SharedValueNotStaged(this ILogger logger, Exception exception, string hash, int bytes, string workerId, string error);

    [LoggerMessage(EventId = 4040, Level = LogLevel.Warning, Message =
        "Worker {WorkerId} at {Address} uses {UsedMiB:0} MiB of its machine's {MachineMiB:0} MiB ({Percent:0} %): its tasks may fail with OutOfMemoryException " +
        "or its executor be killed; run fewer tasks at once on it (LocalProcessBackend.SlotsPerWorker), make items smaller, or use machines with more memory")]
    public static partial void WorkerMemoryHigh(this ILogger logger, string workerId, Uri address, double usedMiB, double machineMiB, double percent);

    [LoggerMessage(EventId = 4041, Level = LogLevel.Warning, Message =
        "Worker {WorkerId} at {Address} is thrashing: its processes were paused for garbage collection {Percent:0} % of the last {WindowSeconds:0} s; " +
        "its tasks run slowly for want of memory: allocate less per task, run fewer tasks at once on it, or use machines with more memory")]
    public static partial void WorkerThrashing(this ILogger logger, string workerId, Uri address, double percent, double windowSeconds);

    [LoggerMessage(EventId = 4020, Level = LogLevel.Information, Message = "{Method} item {Index} threw {Type} on worker {WorkerId}; retry {Attempt} of {Retries}")]
    public static partial void ItemRetried(this ILogger logger, string method, int index, string type, string workerId, int attempt, int retries);
}
