using Coiled.Remote.Transport;
using Coiled.Remote.Worker.Executors;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Worker;

/// <summary>What one worker host shares between its calls: identity, stores, activity, and how it stops.</summary>
internal sealed class WorkerRuntime
{
    private readonly TaskCompletionSource<string> _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _bulkArgumentBatches;
    private long _bulkResultBatches;

    public WorkerRuntime(WorkerHostOptions options, ILoggerFactory loggerFactory)
    {
        Options = options;
        WorkerId = "w-" + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().AsSpan(0, 3));
        Blobs = new BlobStore(options.CacheDirectory);
        StagedValues = new StagedValueFolder(options.CacheDirectory, WorkerId, options.TimeProvider);
        Environments = new EnvironmentCatalog(options.CacheDirectory, Blobs, options.HostEnvironment);
        Activity = new WorkerActivity(options.TimeProvider);
        if (options.Executors is { } executors)
        {
            // A spare warms up TLS when the worker's clients use it.
            Executors = new ExecutorSupervisor(
                executors with { Tls = executors.Tls || options.Certificate is not null, StagedValueDirectory = StagedValues.Store.Folder }, options.CacheDirectory, options.Slots, options.Limits, options.TimeProvider, loggerFactory.CreateLogger<ExecutorSupervisor>());
            if (executors.DirectRoutes && SocketPassing.IsSupported)
            {
                Routes = new DirectRouteTable(
                    Activity, options.Certificate?.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12), options.TimeProvider, loggerFactory.CreateLogger<DirectRouteTable>());
            }
        }

        Refusals = new RefusalLog(loggerFactory.CreateLogger<RefusalLog>(), options.TimeProvider);
        Bulk = new BulkStore(BulkStore.DefaultArrivalTimeout, options.TimeProvider, options.MaxUnclaimedBulkBytes);
        Connections = new ConnectionLimit(options.MaxConnections, Refusals);
    }

    /// <summary>The places for connections, whatever they turn out to be, that every accepted connection takes.</summary>
    public ConnectionLimit Connections { get; }

    /// <summary>Where calls and bulk-data connections refused for their token are counted and, now and then, logged.</summary>
    public RefusalLog Refusals { get; }

    /// <summary>Arguments that arrived on the bulk-data connection.</summary>
    public BulkStore Bulk { get; }

    /// <summary>The port bulk-data connections open on, once bound: the worker's own, which they share with gRPC.</summary>
    public int BulkPort { get; set; }

    /// <summary>Clients' bulk-data connections by the channel id they opened them with: where large results go back.</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<ulong, ResultSink> ResultChannels { get; } = new();

    /// <summary>Task batches whose arguments arrived on the bulk-data connection instead of in the task stream.</summary>
    public long BulkArgumentBatches => Interlocked.Read(ref _bulkArgumentBatches);

    /// <summary>Result batches sent back on a client's bulk-data connection instead of in the task stream.</summary>
    public long BulkResultBatches => Interlocked.Read(ref _bulkResultBatches);

    /// <summary>Name of the bulk-data listener's abstract Unix socket, if it has one.</summary>
    public string? BulkLocalName { get; set; }

    public WorkerHostOptions Options { get; }

    public string WorkerId { get; }

    public BlobStore Blobs { get; }

    /// <summary>The shared values clients had this worker fetch from their cluster's staging storage.</summary>
    public StagedValueFolder StagedValues { get; }

    public EnvironmentCatalog Environments { get; }

    public WorkerActivity Activity { get; }

    /// <summary>What the machine's cloud said about it: that it will be reclaimed, or that work should move off it.</summary>
    public Cloud.MachineNotices Notices { get; } = new();

    /// <summary>The executor processes that run the tasks (the worker daemon); null when tasks run in this process.</summary>
    public ExecutorSupervisor? Executors { get; }

    /// <summary>Task streams handed to their executors as connections of their own; null when streams are relayed or run in this process.</summary>
    public DirectRouteTable? Routes { get; }

    /// <summary>Completes with the reason once something asked the worker to stop.</summary>
    public Task<string> StopRequested => _stopped.Task;

    public void RequestStop(string reason) => _stopped.TrySetResult(reason);

    public void CountBulkArguments() => Interlocked.Increment(ref _bulkArgumentBatches);

    public void CountBulkResults() => Interlocked.Increment(ref _bulkResultBatches);
}
