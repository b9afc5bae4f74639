using Microsoft.Extensions.Logging;

namespace Coiled.Remote;

/// <summary>How a <see cref="Cluster"/> is started and how its workers behave.</summary>
public sealed record ClusterOptions
{
    internal static readonly TimeSpan DefaultIdleTimeout = TimeSpan.FromMinutes(20);
    internal static readonly TimeSpan DefaultNoClientTimeout = TimeSpan.FromMinutes(2);
    internal const int DefaultMaxWorkerDeaths = 3;
    internal static readonly TimeSpan DefaultWorkerTimeout = TimeSpan.FromSeconds(30);
    internal static readonly TimeSpan MinimumWorkerTimeout = TimeSpan.FromSeconds(1);

    /// <summary>Longest finite <see cref="WorkerTimeout"/>: timers take at most about 49.7 days.</summary>
    internal static readonly TimeSpan MaximumWorkerTimeout = TimeSpan.FromDays(49);

    /// <summary>Shortest finite <see cref="IdleTimeout"/> and <see cref="NoClientTimeout"/>: the worker counts them in whole seconds.</summary>
    internal static readonly TimeSpan MinimumWorkerStopTimeout = TimeSpan.FromSeconds(1);
    internal static readonly TimeSpan DefaultIdleWarningAfter = TimeSpan.FromMinutes(2);
    internal const long DefaultStreamWindowBytes = 32L * 1024 * 1024;
    internal const long MinStreamWindowBytes = 1024 * 1024;

    /// <summary>Number of workers to start. Default: one per processor of this machine for local backends.</summary>
    public int? Workers { get; init; }

    /// <summary>
    /// Workers that must be connected, synchronized and ready before <see cref="Cluster.StartAsync"/> returns; from 1 to
    /// <see cref="Workers"/>. Default: all of them. The others join the running cluster as they come, and take work in
    /// calls already running; one that never comes is logged, and the cluster runs on with the workers it has.
    /// </summary>
    public int? MinimumWorkers { get; init; }

    /// <summary>How workers are provisioned. Default: a new <see cref="LocalProcessBackend"/>.</summary>
    /// <remarks>A backend instance belongs to the cluster started with it and is disposed with that cluster.</remarks>
    public IClusterBackend? Backend { get; init; }

    /// <summary>
    /// Workers stop themselves after this long without work. Default 20 minutes; at least 1 second, or
    /// <see cref="Timeout.InfiniteTimeSpan"/> for workers that never stop for lack of work.
    /// </summary>
    public TimeSpan IdleTimeout { get; init; } = DefaultIdleTimeout;

    /// <summary>
    /// Workers stop themselves after this long without a connected client. Default 2 minutes; at least 1 second, or
    /// <see cref="Timeout.InfiniteTimeSpan"/> for workers that never stop for lack of a client. It runs from the
    /// worker's start, so it must outlast the time the cluster takes to start and connect.
    /// </summary>
    public TimeSpan NoClientTimeout { get; init; } = DefaultNoClientTimeout;

    /// <summary>
    /// How long a worker may stay silent (no heartbeat, no answer to HTTP/2 pings) before it is declared lost and its
    /// tasks run elsewhere. Default 30 seconds; from 1 second to 49 days (the longest a timer can wait);
    /// <see cref="Timeout.InfiniteTimeSpan"/> never declares a silent worker lost.
    /// </summary>
    /// <remarks>
    /// A worker whose process ends or whose connection is reset is detected at once, whatever this says. The timeout is
    /// for workers that say nothing: a cut network, a frozen machine. It must outlast what a healthy worker can go
    /// through: every core busy, a long blocking garbage collection of a large heap, a slow network.
    /// </remarks>
    public TimeSpan WorkerTimeout { get; init; } = DefaultWorkerTimeout;

    /// <summary>
    /// How long a worker may go without a task before the cluster logs a warning that it keeps idle machines, with what
    /// they cost an hour where the backend knows prices (once per cluster, and counted in the
    /// <c>coiled.remote.cluster.idle.warnings</c> metric). Default 2 minutes. <see cref="TimeSpan.Zero"/> or
    /// <see cref="Timeout.InfiniteTimeSpan"/> never warns; any other negative value is refused by
    /// <see cref="Cluster.StartAsync"/> with an <see cref="ArgumentOutOfRangeException"/>.
    /// </summary>
    /// <remarks>
    /// A worker counts as idle from its last task's outcome (or from when it joined) until a task is sent to it again;
    /// the cluster looks once a second. Workers that should not sit idle can retire by themselves:
    /// <see cref="Cluster.Adapt"/>.
    /// </remarks>
    public TimeSpan IdleWarningAfter { get; init; } = DefaultIdleWarningAfter;

    /// <summary>
    /// A task that was running in this many processes that died (workers, or the executor processes a worker runs tasks
    /// in) fails with <see cref="WorkerLostException"/>. Default 3.
    /// </summary>
    public int MaxWorkerDeaths { get; init; } = DefaultMaxWorkerDeaths;

    /// <summary>
    /// When a worker is lost, start a replacement through the backend (default true). Its tasks are requeued either way.
    /// </summary>
    public bool ReplaceLostWorkers { get; init; } = true;

    /// <summary>
    /// Bytes one <c>MapStreamAsync</c> call may hold between its source and its consumer: the serialized results not
    /// yet taken by the consumer, plus, for each item read and not yet completed, the larger of its serialized
    /// arguments and the mean size of the results so far. The source is read again only while less than this is held,
    /// so a stream holds at most this plus one item (an item larger than this still goes through), and at most 65,536
    /// items however small. Until its first result arrives, a stream reads only two items per worker slot (at least
    /// 16), so items with small arguments and large results hold at most that many results beyond this. Default 32 MiB;
    /// at least 1 MiB.
    /// </summary>
    /// <remarks>
    /// The process grows by a few times this while a stream of large items runs, since arrays the source made and the
    /// stream let go of wait for the garbage collector. Raise it when workers are many and items or results large, so
    /// that each worker slot has about two items queued or running: with 1 MB items, 32 MiB keeps 16 slots busy.
    /// </remarks>
    public long StreamWindowBytes { get; init; } = DefaultStreamWindowBytes;

    /// <summary>
    /// Names of this process's environment variables to make visible to [Remote] methods on the workers. A worker runs
    /// each environment with its own forwarded values in an executor process of its own, so clients that forward other
    /// values never see each other's; in-process workers run in this process, whose variables they are already.
    /// </summary>
    public IReadOnlyList<string> ForwardEnvironmentVariables { get; init; } = [];

    /// <summary>Where the cluster logs. Default: nowhere.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>
    /// The application folder synchronized to the workers; default: this application's own (<see cref="AppContext.BaseDirectory"/>).
    /// Tests and benchmarks point it at a copy with a file changed to make another build of the same code.
    /// </summary>
    internal string? ApplicationDirectory { get; init; }

    /// <summary>
    /// The clock of every timer and timeout on the caller's side: retries, heartbeats, connection waits, progress.
    /// Default the system clock; tests set a fake one to drive time exactly.
    /// </summary>
    internal TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>
    /// Whether an argument value of at least 64 KiB that comes again (the same object) is sent to each worker once and
    /// referred to by the tasks that pass it (default true). Benchmarks turn it off to measure the transport itself.
    /// </summary>
    internal bool ShareRepeatedArguments { get; init; } = true;

    /// <summary>
    /// Most bytes of shared argument values each worker holds for the cluster (default and most: 1 GiB). Tests make it
    /// small to see values dropped and sent again.
    /// </summary>
    internal long SharedValueBytes { get; init; } = Transport.WireLimits.MaxSharedValueBytes;

    /// <summary>
    /// Whether the cluster serves a live dashboard from this process (default true): workers, a task stream, calls,
    /// cost and recent errors, updated every second, at <see cref="Cluster.DashboardUri"/>, which is also logged at
    /// Information level when the cluster starts. It needs no internet access. False serves nothing and leaves
    /// <see cref="Cluster.DashboardUri"/> null.
    /// </summary>
    public bool Dashboard { get; init; } = true;

    /// <summary>
    /// Where the dashboard listens. Default null: 127.0.0.1 on port 8787 when it is free, otherwise on a free port, so
    /// that only this machine can see it. Port 0 takes any free port. An address other than loopback (e.g.
    /// <c>new IPEndPoint(IPAddress.Any, 8787)</c> to watch from another machine) shows the page only to a viewer who
    /// shows the cluster token: <see cref="Cluster.DashboardUri"/> then carries it as <c>?token=</c>, which the page
    /// trades for a cookie, and scripts may send it as <c>Authorization: Bearer</c> instead. A port that is taken on
    /// an address given here is logged as a warning, and the cluster runs without a dashboard.
    /// </summary>
    public System.Net.IPEndPoint? DashboardAddress { get; init; }

    /// <summary>
    /// The cluster's name on this machine. A named cluster is listed by <c>coiled-remote ls</c> and stopped by
    /// <c>coiled-remote stop NAME</c>; with a <see cref="KeepAlive"/> its workers outlive the cluster and this process,
    /// and the next <see cref="Cluster.StartAsync"/> with the same name and the same kind of backend attaches to them
    /// instead of starting new ones (the changed files of a rebuilt application synchronize, and its new build runs).
    /// Letters, digits, '.', '_' and '-', at most 64, starting with a letter or digit. Default: none, a cluster of
    /// its own.
    /// </summary>
    public string? Name { get; init; }

    /// <summary>
    /// How long a named cluster's workers keep running without a client after the cluster is disposed or this process
    /// ends (Ctrl+C and SIGKILL included), waiting for the next start with the same <see cref="Name"/>. Default zero:
    /// disposing the cluster stops its workers, also those of a named cluster it attached to. At most
    /// <see cref="MaxKeepAlive"/>. Workers kept for longer than <see cref="IdleTimeout"/> also wait that long for work.
    /// </summary>
    public TimeSpan KeepAlive { get; init; }

    /// <summary>
    /// The longest <see cref="KeepAlive"/> this start accepts, so that a forgotten cluster ends by itself. Default: 2
    /// hours for local workers, 1 hour for EC2 instances.
    /// </summary>
    public TimeSpan? MaxKeepAlive { get; init; }

    /// <summary>Receives the cluster's progress: start-up phases and task counts.</summary>
    public IProgress<ClusterProgress>? Progress { get; init; }
}
