using System.Net;
using System.Security.Cryptography.X509Certificates;
using Coiled.Remote.Transport;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Worker;

/// <summary>How a worker host listens, authenticates and stops.</summary>
internal sealed record WorkerHostOptions
{
    /// <summary>Where Kestrel listens; port 0 picks a free port.</summary>
    public required IPEndPoint Listen { get; init; }

    /// <summary>The bearer token every call must carry; internal so that the record's <c>ToString</c> leaves it out.</summary>
    internal required string Token { get; init; }

    /// <summary>Folder for blobs and environments; shared by workers on one machine.</summary>
    public required string CacheDirectory { get; init; }

    /// <summary>Run tasks in this process's own code instead of synchronized environments (in-process workers).</summary>
    public bool HostEnvironment { get; init; }

    /// <summary>
    /// Run each environment, with its forwarded variables, in an executor process of its own (the worker daemon); null
    /// runs tasks in this process (in-process workers), which never changes its working directory or variables.
    /// </summary>
    public Executors.ExecutorOptions? Executors { get; init; }

    /// <summary>Most execution slots a worker takes (<see cref="WireLimits.MaxSlots"/>).</summary>
    internal const int MaxSlots = WireLimits.MaxSlots;

    /// <summary>Execution slots, 1 to <see cref="MaxSlots"/>; default one per processor.</summary>
    public int Slots { get; init; } = Environment.ProcessorCount;

    /// <summary>Stop after this long without a running or queued task.</summary>
    public TimeSpan IdleTimeout { get; init; } = Timeout.InfiniteTimeSpan;

    /// <summary>Stop after this long without a connected client, once a client has been seen.</summary>
    public TimeSpan NoClientTimeout { get; init; } = Timeout.InfiniteTimeSpan;

    /// <summary>
    /// Stop after this long from the start if no client ever connects; null for <see cref="NoClientTimeout"/>. A cloud
    /// worker that boots before the rest of its fleet waits longer for its first client than for one that came back.
    /// </summary>
    public TimeSpan? FirstClientTimeout { get; init; }

    /// <summary>
    /// How long a task with a timeout may keep running after its token was cancelled before the worker fails it and
    /// recycles the executor process it runs in (a method that ignores its token would otherwise hold a slot forever).
    /// </summary>
    public TimeSpan TimeoutGrace { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Largest result a task may return; larger ones fail the task instead of breaking the stream.</summary>
    public int MaxResultBytes { get; init; } = WireLimits.MaxResultBytes;

    /// <summary>The most connections the worker holds at once (gRPC, bulk data, and those not yet routed); more are closed at once.</summary>
    public int MaxConnections { get; init; } = ConnectionLimit.DefaultMax;

    /// <summary>
    /// An authenticated bulk-data connection on which nothing moved and no blob was under way for this long is told
    /// goodbye (the client opens a new one when it needs one); default 5 min.
    /// </summary>
    public TimeSpan BulkIdleTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// A bulk-data connection that received nothing for this long in the middle of a blob, or that its client did not
    /// close this long after the worker's goodbye, is closed; default 2 min, as long as a task batch waits for its blob.
    /// </summary>
    public TimeSpan BulkStallTimeout { get; init; } = BulkStore.DefaultArrivalTimeout;

    /// <summary>
    /// The most bytes of arguments that arrived on bulk-data connections and that no task batch has claimed; a blob
    /// that would pass it is refused, and the batch that names it fails its stream with ResourceExhausted. Default
    /// twice the largest message (1 GiB).
    /// </summary>
    public long MaxUnclaimedBulkBytes { get; init; } = 2L * WireLimits.MaxMessageBytes;

    /// <summary>
    /// Whether the worker is its process's only purpose (the worker daemon): SIGTERM and Ctrl+C then stop it. A worker
    /// inside another application's process (in-process workers) leaves the process's signals to that application.
    /// </summary>
    public bool OwnsProcess { get; init; }

    /// <summary>What bounds tasks: timeout grace and result size. Tasks in this process (in-process workers) never collect the application's heap; executors may collect theirs.</summary>
    public TaskLimits Limits => new(TimeoutGrace, MaxResultBytes, CollectAfterLargeTasks: false);

    /// <summary>When set, serve TLS with this certificate.</summary>
    public X509Certificate2? Certificate { get; init; }

    /// <summary>
    /// The machine's instance metadata service (IMDSv2; <c>http://169.254.169.254</c> on EC2), polled for a spot
    /// interruption notice and a rebalance recommendation, which the worker reports to its clients; null (the default)
    /// for none: a machine that no cloud reclaims.
    /// </summary>
    public Uri? InstanceMetadata { get; init; }

    /// <summary>Between two polls of <see cref="InstanceMetadata"/>; default 5 s.</summary>
    public TimeSpan InstanceMetadataPollPeriod { get; init; } = Cloud.MachineNoticePoller.DefaultPeriod;

    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>
    /// The machine's memory the worker reports, at hello and on its heartbeats; default what the runtime makes available
    /// (<see cref="GCMemoryInfo.TotalAvailableMemoryBytes"/>, a container's limit where there is one). Tests make it small
    /// to see the client warn about a worker short of memory without filling the machine.
    /// </summary>
    public long? MachineMemoryBytes { get; init; }

    /// <summary>The machine's memory the worker reports: <see cref="MachineMemoryBytes"/>, else what the runtime makes available.</summary>
    public long ReportedMachineMemoryBytes => MachineMemoryBytes ?? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
