using System.Diagnostics;
using System.Diagnostics.Metrics;
using Coiled.Remote.Transport.Protocol;

namespace Coiled.Remote.Telemetry;

/// <summary>
/// The library's <see cref="ActivitySource"/> and <see cref="Meter"/>, both named "Coiled.Remote", and their
/// instruments. Nothing here costs more than a null check or a disabled-instrument check when nobody listens.
/// </summary>
internal static class RemoteTelemetry
{
    public const string Name = "Coiled.Remote";

    /// <summary>Tag on every measurement and activity: which cluster (a random id per cluster).</summary>
    public const string ClusterTag = "coiled.remote.cluster";

    public const string WorkerTag = "coiled.remote.worker.id";

    public const string MethodTag = "coiled.remote.method";

    public const string ItemCountTag = "coiled.remote.items";

    public const string ItemIndexTag = "coiled.remote.item.index";

    public const string AttemptTag = "coiled.remote.attempt";

    public const string ArgumentBytesTag = "coiled.remote.argument.bytes";

    public const string ResultBytesTag = "coiled.remote.result.bytes";

    private static readonly string? Version = typeof(RemoteTelemetry).Assembly.GetName().Version?.ToString();
    private static readonly List<Cluster> Live = [];

    public static readonly ActivitySource Source = new(Name, Version);

    public static readonly Meter Meter = new(Name, Version);

    public static readonly Counter<long> TasksDone = Meter.CreateCounter<long>(
        "coiled.remote.tasks.done", "{task}", "Tasks that returned a result.");

    public static readonly Counter<long> TasksFailed = Meter.CreateCounter<long>(
        "coiled.remote.tasks.failed", "{task}", "Tasks that ended with an error that retries could not fix.");

    public static readonly Counter<long> TasksRetried = Meter.CreateCounter<long>(
        "coiled.remote.tasks.retried", "{task}", "Task attempts that threw and were scheduled again ([Remote(Retries = n)]).");

    public static readonly Histogram<double> TaskDuration = Meter.CreateHistogram<double>(
        "coiled.remote.task.duration", "s",
        "Time a task ran on its worker; each task of a result batch records the batch's average, which is what the worker reports.");

    public static readonly Counter<long> WorkersScaled = Meter.CreateCounter<long>(
        "coiled.remote.workers.scaled", "{worker}", "Workers the cluster added or retired as it scaled (tag direction: up or down).");

    public static readonly Counter<long> SyncBytes = Meter.CreateCounter<long>(
        "coiled.remote.sync.bytes", "By", "Bytes of the application uploaded to workers by environment synchronization.");

    public static readonly Counter<long> ArgumentBytes = Meter.CreateCounter<long>(
        "coiled.remote.arguments.bytes", "By", "Bytes of serialized task arguments sent to workers.");

    public static readonly Counter<long> ResultBytes = Meter.CreateCounter<long>(
        "coiled.remote.results.bytes", "By", "Bytes of serialized task results received from workers.");

    public static readonly Counter<long> IdleWarnings = Meter.CreateCounter<long>(
        "coiled.remote.cluster.idle.warnings", "{warning}",
        "Warnings that the cluster keeps workers that had no task for ClusterOptions.IdleWarningAfter (at most one per cluster).");

    public static readonly Counter<long> MemoryWarnings = Meter.CreateCounter<long>(
        "coiled.remote.worker.memory.warnings", "{warning}",
        "Warnings that a worker's memory passed 90 % of its machine's (one per episode, per worker).");

    public static readonly Counter<long> ThrashingWarnings = Meter.CreateCounter<long>(
        "coiled.remote.worker.gc.thrashing.warnings", "{warning}",
        "Warnings that a worker spent more than 20 % of its time paused for garbage collection (one per episode, per worker).");

    public static readonly ObservableUpDownCounter<long> TasksQueued = Meter.CreateObservableUpDownCounter(
        "coiled.remote.tasks.queued", () => Observe<long>(static c => [new Measurement<long>(c.Scheduler.Counts().Queued, c.Tag)]),
        "{task}", "Tasks waiting for a worker.");

    public static readonly ObservableUpDownCounter<long> TasksRunning = Meter.CreateObservableUpDownCounter(
        "coiled.remote.tasks.running", () => Observe<long>(static c => [new Measurement<long>(c.Scheduler.Counts().Running, c.Tag)]),
        "{task}", "Tasks sent to a worker and not finished yet.");

    public static readonly ObservableCounter<double> WorkerCpuTime = Meter.CreateObservableCounter(
        "coiled.remote.worker.cpu.time", () => ObserveWorkers(static s => s.CpuSeconds),
        "s", "Processor time each worker process has used, from its latest report (about every second).");

    public static readonly ObservableGauge<long> WorkerWorkingSet = Meter.CreateObservableGauge(
        "coiled.remote.worker.memory.working_set", () => ObserveWorkers(static s => s.WorkingSetBytes),
        "By", "Physical memory of each worker process, from its latest report.");

    public static readonly ObservableGauge<long> WorkerGcHeap = Meter.CreateObservableGauge(
        "coiled.remote.worker.memory.gc_heap", () => ObserveWorkers(static s => s.GcHeapBytes),
        "By", "Managed heap in use in each worker process, from its latest report.");

    public static readonly ObservableCounter<double> WorkerGcPauseTime = Meter.CreateObservableCounter(
        "coiled.remote.worker.gc.pause.time", () => ObserveWorkers(static s => s.GcPauseSeconds),
        "s", "Time each worker's processes were paused for garbage collection, its executors' as they last reported it, from its latest report.");

    /// <summary>Makes a cluster's queues and workers visible to the observable instruments until it is disposed.</summary>
    public static void Register(Cluster cluster)
    {
        lock (Live)
        {
            Live.Add(cluster);
        }
    }

    public static void Unregister(Cluster cluster)
    {
        lock (Live)
        {
            Live.Remove(cluster);
        }
    }

    /// <summary>
    /// Starts the activity of one call (map, stream or submit), or returns null when nobody samples it. The caller's
    /// <see cref="Activity.Current"/> is left as it was: task activities name their parent explicitly.
    /// </summary>
    public static Activity? StartCall(string operation, string method, string clusterId, long items)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var previous = Activity.Current;
        var activity = Source.StartActivity(operation, ActivityKind.Internal);
        Activity.Current = previous;
        if (activity is null)
        {
            return null;
        }

        activity.DisplayName = $"{operation} {method}";
        activity.SetTag(MethodTag, method);
        activity.SetTag(ClusterTag, clusterId);
        if (items >= 0)
        {
            activity.SetTag(ItemCountTag, items);
        }

        return activity;
    }

    /// <summary>Ends a call's activity with how the call ended.</summary>
    public static void EndCall(Activity? activity, Exception? error)
    {
        if (activity is null)
        {
            return;
        }

        if (error is OperationCanceledException)
        {
            activity.SetStatus(ActivityStatusCode.Error, "cancelled");
        }
        else if (error is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, error.Message);
            activity.AddTag("error.type", error.GetType().FullName);
        }

        activity.Stop();
    }

    /// <summary>
    /// Records one finished task attempt as a child of its call's activity, from when it was sent until now, if the
    /// listener samples it. Called only for traced calls, so untraced ones pay nothing.
    /// </summary>
    public static void TraceTask(
        Activity parent, string method, string workerId, int index, int attempt, long sentAt, int argumentBytes, long resultBytes, TaskFailure? failure)
    {
        var start = sentAt == 0 ? DateTimeOffset.UtcNow : DateTimeOffset.UtcNow - Stopwatch.GetElapsedTime(sentAt);
        var activity = Source.StartActivity("task", ActivityKind.Client, parent.Context, startTime: start);
        if (activity is null)
        {
            return;
        }

        activity.DisplayName = $"task {method}";
        activity.SetTag(MethodTag, method);
        activity.SetTag(WorkerTag, workerId);
        activity.SetTag(ItemIndexTag, index);
        activity.SetTag(AttemptTag, attempt);
        activity.SetTag(ArgumentBytesTag, argumentBytes);
        activity.SetTag(ResultBytesTag, resultBytes);
        if (failure is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, failure.Message);
            activity.SetTag("error.type", string.IsNullOrEmpty(failure.ExceptionType) ? failure.Kind.ToString() : failure.ExceptionType);
        }

        activity.Stop();
    }

    private static IEnumerable<Measurement<T>> Observe<T>(Func<Cluster, Measurement<T>[]> observe)
        where T : struct
    {
        Cluster[] clusters;
        lock (Live)
        {
            clusters = [.. Live];
        }

        return clusters.SelectMany(observe);
    }

    private static IEnumerable<Measurement<T>> ObserveWorkers<T>(Func<WorkerStats, T> value)
        where T : struct
        => Observe<T>(c => [.. c.Connections
            .Where(w => w.State is WorkerState.Ready && w.Stats is not null)
            .Select(w => new Measurement<T>(value(w.Stats!), c.Tag, w.Tag))]);
}
