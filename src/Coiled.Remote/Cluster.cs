using System.Reflection;
using System.Security.Cryptography;
using Coiled.Remote.Scheduling;
using Coiled.Remote.Sharing;
using Coiled.Remote.Stubs;
using Coiled.Remote.Synchronization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

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
    private int _replacements;
    private int _disposed;

    private Cluster(IClusterBackend backend, List<WorkerConnection> connections, ClusterOptions options, ILoggerFactory loggerFactory, ClusterSession session)
    {
        _backend = backend;
        _connections = connections;
        _options = options;
        _logger = loggerFactory.CreateLogger<Cluster>();
        _session = session;
        _scheduler = new Scheduler(
            options.MaxWorkerDeaths, NewClusterId(), options.TimeProvider, loggerFactory.CreateLogger<Scheduler>(),
            workerLost: options.ReplaceLostWorkers ? ReplaceAsync : null,
            changed: ProgressReporter(options, session.Launch.Count),
            sharedValueBytes: options.SharedValueBytes);
        foreach (var connection in connections)
        {
            StartWorker(connection);
        }

        OnStarted();
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
    /// Starts a cluster and returns once every requested worker is connected and has the caller's code.
    /// </summary>
    /// <param name="options">Workers, backend and timeouts; default: one local worker process per processor.</param>
    /// <param name="cancellationToken">Cancels the start; whatever was started is stopped.</param>
    /// <exception cref="ClusterStartException">Workers could not be provisioned or reached.</exception>
    /// <exception cref="EnvironmentSyncException">The caller's code could not be synchronized to a worker.</exception>
    public static Task<Cluster> StartAsync(ClusterOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new ClusterOptions();
        return StartCoreAsync(options, options.Backend ?? new LocalProcessBackend(), token: null, cancellationToken);
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
        _scheduler.Close(new ObjectDisposedException(nameof(Cluster), "The cluster was disposed while this call was running."));
        List<WorkerConnection> connections;
        lock (_connections)
        {
            connections = [.. _connections];
        }

        // Workers started by hand (ConnectAsync) keep running for the next client; the ones this cluster started stop.
        await Task.WhenAll(connections.Where(c => !c.Endpoint.StartedByHand).Select(c => c.ShutdownAsync("the cluster was disposed"))).ConfigureAwait(false);

        foreach (var connection in connections)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }

        await _backend.DisposeAsync().ConfigureAwait(false);
        OnClosed();
    }

    /// <summary>
    /// Starts the cluster in the phases it reports and logs: provision the workers, connect to them, synchronize the
    /// application, then start the scheduler. On failure or cancellation whatever was started is stopped.
    /// </summary>
    private static async Task<Cluster> StartCoreAsync(ClusterOptions options, IClusterBackend backend, string? token, CancellationToken cancellationToken)
    {
        var loggerFactory = options.LoggerFactory ?? NullLoggerFactory.Instance;
        var logger = loggerFactory.CreateLogger<Cluster>();
        var count = options.Workers ?? backend.DefaultWorkerCount;
        if (Validate(options, count) is { } invalid)
        {
            await backend.DisposeAsync().ConfigureAwait(false);
            throw invalid;
        }

        var time = options.TimeProvider;
        var launch = new WorkerLaunch(count, token ?? NewToken(), options.IdleTimeout, options.NoClientTimeout, loggerFactory);
        var connections = new List<WorkerConnection>();
        try
        {
            var started = time.GetTimestamp();
            Report(options, "starting workers", 0, count);
            var application = Task.Run(() => ScanApplication(options.ApplicationDirectory, logger), cancellationToken);
            var endpoints = await ProvisionAsync(backend, launch, cancellationToken).ConfigureAwait(false);
            var provisioned = time.GetElapsedTime(started);

            await ConnectWorkersAsync(endpoints, launch.Token, options, connections, cancellationToken).ConfigureAwait(false);
            var connected = time.GetElapsedTime(started);

            Report(options, "synchronizing", 0, count);
            var variables = ForwardedVariables(options, logger);
            var session = await SynchronizeAsync(connections, application, variables, cancellationToken).ConfigureAwait(false);
            var total = time.GetElapsedTime(started);
            session = session with { Launch = launch, Variables = variables, Sync = session.Sync with { Elapsed = total - connected } };
            logger.ClusterStarted(
                backend.Name, total.TotalMilliseconds, provisioned.TotalMilliseconds, (connected - provisioned).TotalMilliseconds, (total - connected).TotalMilliseconds,
                connections.Count, session.Sync.BlobsSent, session.Sync.BytesSent);

            cancellationToken.ThrowIfCancellationRequested();
            Report(options, "running", connections.Count, count);
            return new Cluster(backend, connections, options, loggerFactory, session);
        }
        catch (Exception ex)
        {
            await StopStartedAsync(backend, connections).ConfigureAwait(false);

            // A call cut short by the caller's token fails in its own way (a cancelled gRPC call, a closed stream), and
            // whatever wraps it; the caller asked to stop, and hears that.
            if (cancellationToken.IsCancellationRequested && !(ex is OperationCanceledException cancelled && cancelled.CancellationToken == cancellationToken))
            {
                throw new OperationCanceledException("Starting the cluster was cancelled.", ex, cancellationToken);
            }

            throw;
        }
    }

    /// <summary>A new cluster token: 32 random bytes, URL-safe base64.</summary>
    private static string NewToken() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Start-up phase 1: the backend starts the workers.</summary>
    private static async Task<IReadOnlyList<WorkerEndpoint>> ProvisionAsync(IClusterBackend backend, WorkerLaunch launch, CancellationToken cancellationToken)
    {
        try
        {
            return await backend.StartWorkersAsync(launch, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not (OperationCanceledException or ClusterStartException))
        {
            throw new ClusterStartException($"The {backend.Name} backend could not start {launch.Count} worker(s): {ex.Message}", ex);
        }
    }

    /// <summary>Start-up phase 2: connect to every worker; <paramref name="connections"/> gets each one made, even when another fails.</summary>
    private static async Task ConnectWorkersAsync(
        IReadOnlyList<WorkerEndpoint> endpoints, string token, ClusterOptions options, List<WorkerConnection> connections, CancellationToken cancellationToken)
    {
        var connecting = endpoints.Select(e => WorkerConnection.ConnectAsync(e, token, options.WorkerTimeout, options.TimeProvider, cancellationToken)).ToList();
        try
        {
            await Task.WhenAll(connecting).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new ClusterStartException(
                $"Could not reach {connecting.Count(t => !t.IsCompletedSuccessfully)} of {endpoints.Count} worker(s) " +
                $"({string.Join(", ", endpoints.Select(e => e.Address))}): {ex.Message}", ex);
        }
        finally
        {
            connections.AddRange(connecting.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result));
        }
    }

    /// <summary>A start that failed stops what it started: the connections made, then the backend's workers.</summary>
    private static async Task StopStartedAsync(IClusterBackend backend, List<WorkerConnection> connections)
    {
        foreach (var connection in connections)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }

        await backend.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>The last phase, for every worker and each replacement: the scheduler takes the worker, which starts its loops.</summary>
    private void StartWorker(WorkerConnection connection)
    {
        _scheduler.AddWorker(connection);
        connection.Start(_scheduler);
    }

    /// <summary>What is wrong with <paramref name="options"/>, or null when the cluster can start with them.</summary>
    private static ArgumentOutOfRangeException? Validate(ClusterOptions options, int count)
    {
        if (count < 1)
        {
            return new ArgumentOutOfRangeException(nameof(options), count, "ClusterOptions.Workers must be at least 1.");
        }

        if (options.WorkerTimeout != Timeout.InfiniteTimeSpan
            && (options.WorkerTimeout < ClusterOptions.MinimumWorkerTimeout || options.WorkerTimeout > ClusterOptions.MaximumWorkerTimeout))
        {
            return new ArgumentOutOfRangeException(
                nameof(options), options.WorkerTimeout,
                $"ClusterOptions.WorkerTimeout must be from {ClusterOptions.MinimumWorkerTimeout.TotalSeconds:0} s to {ClusterOptions.MaximumWorkerTimeout.TotalDays:0} days " +
                $"(default {ClusterOptions.DefaultWorkerTimeout.TotalSeconds:0} s), or Timeout.InfiniteTimeSpan to never declare a silent worker lost.");
        }

        if (options.StreamWindowBytes < ClusterOptions.MinStreamWindowBytes)
        {
            return new ArgumentOutOfRangeException(
                nameof(options), options.StreamWindowBytes,
                $"ClusterOptions.StreamWindowBytes is {options.StreamWindowBytes:N0} bytes; a stream needs at least {ClusterOptions.MinStreamWindowBytes:N0} (1 MiB). " +
                $"Leave it unset for the default of {ClusterOptions.DefaultStreamWindowBytes:N0} bytes, or raise it.");
        }

        return WorkerStopTimeout(options.IdleTimeout, "IdleTimeout", ClusterOptions.DefaultIdleTimeout, "without work")
            ?? WorkerStopTimeout(options.NoClientTimeout, "NoClientTimeout", ClusterOptions.DefaultNoClientTimeout, "without a client");

        static ArgumentOutOfRangeException? WorkerStopTimeout(TimeSpan value, string name, TimeSpan defaultValue, string without)
            => value == Timeout.InfiniteTimeSpan || value >= ClusterOptions.MinimumWorkerStopTimeout
                ? null
                : new ArgumentOutOfRangeException(
                    nameof(options), value,
                    $"ClusterOptions.{name} is {value.TotalSeconds:0.###} s; it must be at least {ClusterOptions.MinimumWorkerStopTimeout.TotalSeconds:0} s " +
                    $"(default {defaultValue.TotalMinutes:0} min), or Timeout.InfiniteTimeSpan for workers that never stop {without}.");
    }

    private static ApplicationFolder ScanApplication(string? applicationDirectory, ILogger logger)
        => ApplicationFolder.Scan(applicationDirectory ?? AppContext.BaseDirectory, Assembly.GetEntryAssembly()?.GetName().Name ?? "unknown", logger);

    private static async Task<ClusterSession> SynchronizeAsync(
        IReadOnlyList<WorkerConnection> connections, Task<ApplicationFolder> applicationTask, IReadOnlyDictionary<string, string> variables, CancellationToken cancellationToken)
    {
        var synchronized = connections.Where(c => !c.Endpoint.UsesCallerProcess).ToList();
        var report = new SyncReport(0, 0, 0);
        var environments = new Dictionary<WorkerConnection, string>();
        ApplicationFolder? application = null;
        if (synchronized.Count > 0)
        {
            try
            {
                application = await applicationTask.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not (EnvironmentSyncException or OperationCanceledException))
            {
                throw new EnvironmentSyncException($"The application in {AppContext.BaseDirectory} could not be captured for synchronization: {ex.Message}", ex);
            }

            // Every worker's platform is checked before anything is uploaded: a build one of them cannot run fails the start at once.
            var snapshots = synchronized.Select(c => SnapshotFor(application, c)).ToList();

            // The first worker goes alone: workers sharing a machine share a blob cache, so the rest then find
            // everything present and upload nothing.
            var first = await SyncOneAsync(synchronized[0], snapshots[0], cancellationToken).ConfigureAwait(false);
            var rest = await Task.WhenAll(synchronized.Skip(1).Select((c, i) => SyncOneAsync(c, snapshots[i + 1], cancellationToken))).ConfigureAwait(false);
            foreach (var (connection, outcome) in synchronized.Zip(rest.Prepend(first)))
            {
                environments[connection] = outcome.EnvironmentId;
            }

            report = new SyncReport(
                first.BlobsSent + rest.Sum(r => r.BlobsSent),
                first.BytesSent + rest.Sum(r => r.BytesSent),
                snapshots[0].Manifest.Files.Count);
        }

        await Task.WhenAll(connections.Select(c => OpenOneAsync(c, environments.GetValueOrDefault(c, string.Empty), variables, cancellationToken))).ConfigureAwait(false);
        return new ClusterSession(null!, application, variables, report);
    }

    /// <summary>The application as <paramref name="connection"/>'s platform needs it; refused when it cannot run there.</summary>
    private static EnvironmentSnapshot SnapshotFor(ApplicationFolder application, WorkerConnection connection)
    {
        try
        {
            return application.SnapshotFor(RuntimePlatform.Of(connection.Hello));
        }
        catch (Exception ex) when (ex is not EnvironmentSyncException)
        {
            throw new EnvironmentSyncException(
                $"The application in {application.BaseDirectory} could not be captured for worker {connection.Id} at {connection.Endpoint.Address}: {ex.Message}", ex);
        }
    }

    /// <summary>A worker was lost: start, synchronize and add a replacement, or give up when that is off or fails.</summary>
    private async Task ReplaceAsync(ITaskWorker lost, string how)
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        if (Interlocked.Increment(ref _replacements) > MaxReplacementsPerWorker * _session.Launch.Count)
        {
            _scheduler.GiveUpIfNoWorkers($"worker {lost.Id} ended ({how}) and the cluster already replaced {_replacements - 1} lost workers.");
            return;
        }

        WorkerConnection? connection = null;
        try
        {
            var token = _lifetime.Token;
            var endpoints = await _backend.StartWorkersAsync(_session.Launch with { Count = 1 }, token).ConfigureAwait(false);
            connection = await WorkerConnection.ConnectAsync(endpoints[0], _session.Launch.Token, _options.WorkerTimeout, _options.TimeProvider, token).ConfigureAwait(false);
            lock (_connections)
            {
                _connections.Add(connection);
            }

            var environmentId = string.Empty;
            if (!connection.Endpoint.UsesCallerProcess)
            {
                var synchronized = await SyncOneAsync(connection, SnapshotFor(_session.Application!, connection), token).ConfigureAwait(false);
                environmentId = synchronized.EnvironmentId;
                OnSynchronized(synchronized.BytesSent);
            }

            await OpenOneAsync(connection, environmentId, _session.Variables, token).ConfigureAwait(false);
            StartWorker(connection);
            _logger.WorkerReplaced(lost.Id, how, connection.Id, connection.Endpoint.Address);
            LogWorker(connection);
        }
        catch (Exception ex) when (Volatile.Read(ref _disposed) == 0)
        {
            _logger.WorkerNotReplaced(ex, lost.Id, how);
            _scheduler.GiveUpIfNoWorkers($"worker {lost.Id} ended ({how}) and starting a replacement failed: {ex.GetBaseException().Message}");
        }
        catch (Exception)
        {
            // The cluster is being disposed; it stops whatever was started.
        }
    }

    private static async Task<EnvironmentUploader.Outcome> SyncOneAsync(WorkerConnection connection, EnvironmentSnapshot snapshot, CancellationToken cancellationToken)
    {
        try
        {
            return await connection.SyncAsync(snapshot, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not (EnvironmentSyncException or OperationCanceledException))
        {
            throw new EnvironmentSyncException(
                $"Synchronizing the application ({snapshot.Manifest.Files.Count} files, {snapshot.TotalBytes:N0} bytes) to worker {connection.Id} at {connection.Endpoint.Address} failed: {ex.Message}", ex);
        }
    }

    private static async Task OpenOneAsync(WorkerConnection connection, string environmentId, IReadOnlyDictionary<string, string> variables, CancellationToken cancellationToken)
    {
        if (connection.Endpoint.EnvironmentVariables is { Count: > 0 } own)
        {
            variables = new Dictionary<string, string>(variables.Concat(own).GroupBy(v => v.Key).Select(g => g.Last()), StringComparer.Ordinal);
        }

        try
        {
            await connection.OpenAsync(environmentId, variables, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not (EnvironmentSyncException or OperationCanceledException))
        {
            throw new EnvironmentSyncException($"Worker {connection.Id} at {connection.Endpoint.Address} could not open the application's environment: {ex.Message}", ex);
        }
    }

    private static Dictionary<string, string> ForwardedVariables(ClusterOptions options, ILogger logger)
    {
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in options.ForwardEnvironmentVariables)
        {
            if (Environment.GetEnvironmentVariable(name) is { } value)
            {
                variables[name] = value;
            }
            else
            {
                logger.VariableNotForwarded(name);
            }
        }

        return variables;
    }

    private static void Report(ClusterOptions options, string phase, int ready, int requested)
        => options.Progress?.Report(new ClusterProgress(phase, ready, requested, 0, 0, 0, 0));

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
