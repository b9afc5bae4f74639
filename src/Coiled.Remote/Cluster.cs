using Coiled.Remote.Dashboard;
using Coiled.Remote.Scheduling;
using Coiled.Remote.Sharing;
using Coiled.Remote.Stubs;
using Coiled.Remote.Synchronization;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote;

/// <summary>
/// A set of workers that run [Remote] methods: <c>await cluster.MapAsync(Jobs.Square, items)</c>.
/// Start one with <see cref="StartAsync"/> (workers it provisions) or <see cref="ConnectAsync(IEnumerable{Uri}, string, ClusterOptions?, CancellationToken)"/> (workers started by
/// hand), and dispose it to stop everything it started.
/// </summary>
public sealed partial class Cluster : IAsyncDisposable
{
    /// <summary>Most items of one <c>MapStreamAsync</c> call held between its source and its consumer, however small.</summary>
    internal const int StreamWindowItems = 65536;

    /// <summary>How long a stream whose consumer stopped waits for a read of its source under way before it ends anyway.</summary>
    internal static readonly TimeSpan SourceReadGraceOnStop = TimeSpan.FromMilliseconds(50);

    /// <summary>Fewest items of one <c>MapStreamAsync</c> call read before its first result arrives.</summary>
    internal const int MinItemsBeforeFirstResult = 16;

    /// <summary>Most replacement workers one cluster starts, so that a crash at start-up cannot loop forever.</summary>
    private const int MaxReplacementsPerWorker = 10;

    private readonly IClusterBackend _backend;
    private readonly Scheduler _scheduler;
    private readonly List<WorkerConnection> _connections;
    private readonly ClusterOptions _options;
    private readonly ILogger _logger;
    private readonly ClusterSession _session;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly RepeatedArguments _repeatedArguments = new();
    private readonly WorkerArrivals _arrivals;
    private readonly Telemetry.ClusterProgressReporter? _progress;
    private readonly Task _joining;
    private readonly List<Task> _stopping = [];
    private readonly DashboardFeed? _dashboard;
    private readonly IDashboardServer? _dashboardServer;
    private int _replacements;
    private int _disposed;

    private Cluster(
        IClusterBackend backend, List<WorkerConnection> connections, ClusterOptions options, ILoggerFactory loggerFactory, ClusterSession session,
        WorkerArrivals arrivals, DashboardFeed? dashboard, IDashboardServer? dashboardServer)
    {
        _dashboard = dashboard;
        _dashboardServer = dashboardServer;
        DashboardUri = DashboardAddress(dashboardServer, session.Launch.Token, _logger = loggerFactory.CreateLogger<Cluster>());
        _backend = backend;
        _connections = connections;
        _options = options;
        _session = session;
        _arrivals = arrivals;
        _progress = ProgressReporter(options, session.Launch.Count);
        _scheduler = new Scheduler(
            options.MaxWorkerDeaths, NewClusterId(), options.TimeProvider, loggerFactory.CreateLogger<Scheduler>(),
            workerLost: options.ReplaceLostWorkers ? ReplaceAsync : null,
            changed: _progress is null ? null : _progress.OnChanged,
            sharedValueBytes: options.SharedValueBytes,
            staging: (backend as IStagingBackend)?.Staging,
            workerEnded: StopEndedWorker,
            dashboard: dashboard?.Recorder);
        foreach (var connection in connections)
        {
            StartWorker(connection);
        }

        OnStarted();
        dashboard?.Attach(new ClusterDashboardView(this));
        _joining = Task.Run(JoinLateWorkersAsync);
        WatchIdleWorkers();
    }

    /// <summary>The cluster's workers, with their state now; lost workers stay listed with <see cref="WorkerState.Lost"/>.</summary>
    public IReadOnlyList<WorkerInfo> Workers
    {
        get
        {
            lock (_connections)
            {
                return [.. _connections.Select(c => c.Info)];
            }
        }
    }

    /// <summary>What the cluster's machines have cost so far in US dollars; null when the backend does not know prices.</summary>
    public decimal? Cost => _backend.Cost;

    /// <summary>What environment synchronization sent when the cluster started.</summary>
    internal SyncReport LastSync => _session.Sync;

    /// <summary>
    /// Starts a cluster and returns once every requested worker (or <see cref="ClusterOptions.MinimumWorkers"/> of them) is
    /// connected and has the caller's code; the rest join the running cluster as they come.
    /// </summary>
    /// <param name="options">Workers, backend and timeouts; default: one local worker process per processor.</param>
    /// <param name="cancellationToken">Cancels the start; whatever was started is stopped.</param>
    /// <exception cref="ClusterStartException">Workers could not be provisioned or reached.</exception>
    /// <exception cref="EnvironmentSyncException">The caller's code could not be synchronized to a worker.</exception>
    public static Task<Cluster> StartAsync(ClusterOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new ClusterOptions();
        Serialization.RemoteSerializer.WarmUpInBackground();
        var backend = options.Backend ?? new LocalProcessBackend();
        return options.Name is null && options.KeepAlive == TimeSpan.Zero
            ? StartCoreAsync(options, backend, token: null, cancellationToken)
            : StartNamedAsync(options, backend, cancellationToken);
    }

    /// <summary>
    /// Uses workers that were started by hand with <c>coiled-remote worker</c> (own machines, other clouds).
    /// Disposing the cluster disconnects from them but leaves them running.
    /// </summary>
    /// <param name="endpoints">The workers' addresses, e.g. <c>http://10.0.0.5:7400</c>.</param>
    /// <param name="token">The token the workers were started with.</param>
    /// <param name="options">Timeouts, logging and forwarded variables; <see cref="ClusterOptions.Backend"/> and <see cref="ClusterOptions.Workers"/> are ignored.</param>
    /// <param name="cancellationToken">Cancels connecting.</param>
    public static Task<Cluster> ConnectAsync(IEnumerable<Uri> endpoints, string token, ClusterOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        return ConnectAsync(endpoints.Select(e => new WorkerEndpoint(e)), token, options, cancellationToken);
    }

    /// <summary>
    /// Uses workers that were started by hand, with what the client must know of each: its address and, for a worker
    /// started with <c>--cert</c>, the SHA-256 thumbprint of its certificate (printed by the worker at start), which
    /// the client pins. Disposing the cluster disconnects from them but leaves them running.
    /// </summary>
    /// <param name="endpoints">The workers, e.g. <c>new WorkerEndpoint(new Uri("https://10.0.0.5:7400")) { CertificateThumbprint = "..." }</c>.</param>
    /// <param name="token">The token the workers were started with.</param>
    /// <param name="options">Timeouts, logging and forwarded variables; <see cref="ClusterOptions.Backend"/> and <see cref="ClusterOptions.Workers"/> are ignored.</param>
    /// <param name="cancellationToken">Cancels connecting.</param>
    public static Task<Cluster> ConnectAsync(IEnumerable<WorkerEndpoint> endpoints, string token, ClusterOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrEmpty(token);
        var list = endpoints.ToList();
        if (list.Count == 0)
        {
            throw new ArgumentException("Pass at least one worker address.", nameof(endpoints));
        }

        options ??= new ClusterOptions();
        if (options.Name is not null || options.KeepAlive != TimeSpan.Zero)
        {
            throw new ArgumentException(
                "ClusterOptions.Name and KeepAlive are for clusters whose workers this library starts (Cluster.StartAsync); workers started by hand already outlive their clients.",
                nameof(options));
        }

        // Workers started by hand cannot be started again by the cluster: a lost one's tasks go to the others.
        return StartCoreAsync(options with { Workers = list.Count, ReplaceLostWorkers = false }, new ConnectedBackend(list), token, cancellationToken);
    }

    /// <summary>Stops every worker and releases every machine the cluster started; calls still running fail.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _lifetime.Cancel();
        await StopAdaptingAsync().ConfigureAwait(false);
        await _idleWatch.ConfigureAwait(false);

        // A kept named cluster's workers, as they run before the scheduler closes their connections.
        var kept = KeepWorkers();
        _scheduler.Close(new ObjectDisposedException(nameof(Cluster), "The cluster was disposed while this call was running."));

        // Workers still on their way stop coming; those that came but were not taken in stop with the rest.
        await _arrivals.StopAsync().ConfigureAwait(false);
        await _joining.ConfigureAwait(false);
        List<WorkerConnection> connections;
        lock (_connections)
        {
            connections = [.. _connections];
        }

        while (_arrivals.Ready.TryRead(out var unjoined))
        {
            connections.Add(unjoined.Connection);
            KeepUnjoined(kept, unjoined.Connection.Endpoint);
        }

        // Workers started by hand (ConnectAsync) keep running for the next client, and so do a kept named cluster's;
        // the others this cluster started stop.
        // A named cluster that stops holds its name meanwhile: no other process attaches to workers that are stopping.
        using var stoppingName = _kept is null ? null : await _kept.BeginStopAsync().ConfigureAwait(false);
        if (_kept is not { KeepsWorkers: true })
        {
            await Task.WhenAll(connections.Where(c => !c.Endpoint.StartedByHand).Select(c => c.ShutdownAsync("the cluster was disposed"))).ConfigureAwait(false);
        }

        foreach (var connection in connections)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }

        Task[] stopping;
        lock (_stopping)
        {
            stopping = [.. _stopping];
        }

        await Task.WhenAll(stopping).ConfigureAwait(false);
        try
        {
            // A cloud backend's teardown may fail (and say what is left); the summary and the dashboard end all the same.
            await _backend.DisposeAsync().ConfigureAwait(false);
            if (_kept is not null)
            {
                await _kept.AfterDisposalAsync(kept!).ConfigureAwait(false);
            }
        }
        finally
        {
            OnClosed();
            if (_dashboardServer is not null)
            {
                await _dashboardServer.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>A worker was lost or interrupted: its backend stops its machine, in the background; disposal waits for that.</summary>
    private void StopEndedWorker(ITaskWorker worker, string how)
    {
        _dashboard?.Recorder.WorkerEnded(worker.Id, how);
        if (worker is not WorkerConnection { Endpoint: { StartedByHand: false } endpoint })
        {
            return;
        }

        TrackStop(Task.Run(() => StopQuietlyAsync(endpoint, worker.Id, how, _lifetime.Token)));
    }

    /// <summary>A stop under way, which disposal waits for; those that ended are let go.</summary>
    private void TrackStop(Task stop)
    {
        lock (_stopping)
        {
            _stopping.RemoveAll(t => t.IsCompleted);
            _stopping.Add(stop);
        }
    }

    /// <summary>Has the backend stop a worker's machine; a failure is logged, since disposal stops every worker in any case.</summary>
    private async Task StopQuietlyAsync(WorkerEndpoint endpoint, string worker, string why, CancellationToken cancellationToken)
    {
        try
        {
            await _backend.StopWorkerAsync(endpoint, why, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _logger.WorkerNotStopped(ex, worker, ex.Message);
        }
    }

    /// <summary>Workers that became ready after the start returned join the running cluster and take work in running calls.</summary>
    private async Task JoinLateWorkersAsync()
    {
        try
        {
            while (await _arrivals.Ready.WaitToReadAsync(_lifetime.Token).ConfigureAwait(false))
            {
                while (_arrivals.Ready.TryRead(out var arrival))
                {
                    var connection = arrival.Connection;
                    int ready;
                    lock (_connections)
                    {
                        _connections.Add(connection);
                        ready = _connections.Count;
                    }

                    OnSynchronized(arrival.BytesSent);
                    StartWorker(connection);
                    _logger.WorkerJoinedLate(connection.Id, connection.Endpoint.Address, ready, _session.Launch.Count);
                    LogWorker(connection);
                    _progress?.OnChanged(_scheduler, idle: true);
                }
            }
        }
        catch (OperationCanceledException) when (_lifetime.IsCancellationRequested)
        {
            // The cluster is being disposed; it stops the workers that did not join.
        }
    }

    private RemoteStub Resolve(Delegate method, int arity)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var stub = StubCatalog.Resolve(method);
        if (stub.ArgumentCount != arity)
        {
            throw new ArgumentException(
                $"{stub.DisplayName} takes {stub.ArgumentCount} argument(s) but this call passes {arity}.", nameof(method));
        }

        return stub;
    }
}
