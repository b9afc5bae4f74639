namespace Coiled.Remote;

/// <summary>
/// What a cluster did, from <see cref="Cluster.Summary"/>: counted while it runs, final once it is disposed, and
/// logged at Information level when it closes.
/// </summary>
/// <param name="TasksRun">Tasks whose result or error reached their call (retried attempts count once, with their task; a result that arrives after its call ended is not counted).</param>
/// <param name="TasksFailed">Tasks that ended with an error that retries could not fix.</param>
/// <param name="TasksRetried">Attempts that threw and were run again because of <see cref="RemoteAttribute.Retries"/>.</param>
/// <param name="WorkerSeconds">Seconds each worker was connected, added up over every worker, replacements included.</param>
/// <param name="ArgumentBytes">
/// Bytes of serialized arguments sent to workers over their connections, shared values included, except those the
/// workers fetched from the cluster's staging storage (<see cref="SharedValueBytesStaged"/>).
/// </param>
/// <param name="ResultBytes">Bytes of serialized results received from workers.</param>
/// <param name="SyncBytes">Bytes of the application uploaded by environment synchronization.</param>
/// <param name="Cost">What the cluster's machines cost in US dollars, where the backend knows prices; else null.</param>
public sealed record ClusterSummary(
    long TasksRun,
    long TasksFailed,
    long TasksRetried,
    double WorkerSeconds,
    long ArgumentBytes,
    long ResultBytes,
    long SyncBytes,
    decimal? Cost)
{
    /// <summary>
    /// Tasks that were running on a worker when it was lost (its process died, or it went silent), when the executor
    /// process running them on a worker died, or when the worker's machine was being reclaimed (a spot interruption
    /// notice, which counts no death against them), and went back to the queue to run again. A task that is requeued twice
    /// counts twice; one whose runs ended in <see cref="ClusterOptions.MaxWorkerDeaths"/> such deaths fails instead and
    /// is not counted.
    /// </summary>
    public long TasksRequeued { get; init; }

    /// <summary>
    /// Bytes of arguments the cluster did not send because an argument value of 64 KiB or more that came again (the same
    /// object) went to each worker once, and the tasks that passed it carried a reference to it instead: the bytes those
    /// references stood for, less the shared values sent. <see cref="ArgumentBytes"/> counts what was sent, shared values included.
    /// </summary>
    public long ArgumentBytesSaved { get; init; }

    /// <summary>
    /// Bytes of shared values (of 1 MiB or more) that workers fetched from the cluster's staging storage instead of
    /// receiving them from the caller, counted once per worker that fetched them: on EC2, the caller uploads each such
    /// value to the staging bucket once, however many workers read it. Not part of <see cref="ArgumentBytes"/>.
    /// </summary>
    public long SharedValueBytesStaged { get; init; }

    /// <summary>Every byte the cluster moved over its connections to workers: arguments, results and synchronization.</summary>
    public long BytesMoved => ArgumentBytes + ResultBytes + SyncBytes;

    /// <summary>
    /// Seconds the workers were busy, added up over every worker, replacements included: a worker is busy from the moment
    /// it holds a task (sent to it, running or waiting in its prefetch) until the outcome of the last task it holds came
    /// back, however many of its slots run meanwhile. A worker with one task on eight slots is as busy as one with eight.
    /// </summary>
    public double BusyWorkerSeconds { get; init; }

    /// <summary>
    /// Seconds the workers' machines were paid for, added up over every machine. For local, in-process and hand-started
    /// workers it is <see cref="WorkerSeconds"/> (the time each was connected); on EC2 it is each instance's billed time,
    /// from its launch until it was terminated (or now), at least a minute each, as <see cref="Cost"/> counts it, so boot
    /// time counts as paid and not busy.
    /// </summary>
    public double PaidWorkerSeconds { get; init; }

    /// <summary>
    /// The share of <see cref="PaidWorkerSeconds"/> in which workers were not busy: 1 − <see cref="BusyWorkerSeconds"/> /
    /// <see cref="PaidWorkerSeconds"/>, from 0 to 1; 0 when nothing was paid for yet.
    /// </summary>
    public double IdleShare => PaidWorkerSeconds > 0 ? Math.Clamp(1 - (BusyWorkerSeconds / PaidWorkerSeconds), 0, 1) : 0;

    /// <summary>What the idle share of the machines cost: <see cref="Cost"/> × <see cref="IdleShare"/>; null when <see cref="Cost"/> is.</summary>
    public decimal? IdleCost => Cost is { } cost ? cost * (decimal)IdleShare : null;
}
