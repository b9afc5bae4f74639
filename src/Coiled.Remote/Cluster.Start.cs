using System.Reflection;
using System.Security.Cryptography;
using Coiled.Remote.Scheduling;
using Coiled.Remote.Synchronization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coiled.Remote;

// How a cluster starts: the backend provisions, the cluster connects, synchronizes and opens, in that order, each phase logged.
public sealed partial class Cluster
{
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
            var staging = (backend as IStagingBackend)?.Staging;
            var session = await SynchronizeAsync(connections, application, variables, staging, cancellationToken).ConfigureAwait(false);
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
        IReadOnlyList<WorkerConnection> connections, Task<ApplicationFolder> applicationTask, IReadOnlyDictionary<string, string> variables, IBlobStaging? staging,
        CancellationToken cancellationToken)
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
            // (With shared storage each worker fetches from there, and the caller stages each file once whoever asks.)
            var first = await SyncOneAsync(synchronized[0], snapshots[0], staging, cancellationToken).ConfigureAwait(false);
            var rest = await Task.WhenAll(synchronized.Skip(1).Select((c, i) => SyncOneAsync(c, snapshots[i + 1], staging, cancellationToken))).ConfigureAwait(false);
            foreach (var (connection, outcome) in synchronized.Zip(rest.Prepend(first)))
            {
                environments[connection] = outcome.EnvironmentId;
            }

            report = new SyncReport(
                first.BlobsSent + rest.Sum(r => r.BlobsSent),
                first.BytesSent + rest.Sum(r => r.BytesSent),
                snapshots[0].Manifest.Files.Count,
                BlobsFetched: first.BlobsFetched + rest.Sum(r => r.BlobsFetched),
                BytesFetched: first.BytesFetched + rest.Sum(r => r.BytesFetched));
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

    private static async Task<EnvironmentUploader.Outcome> SyncOneAsync(
        WorkerConnection connection, EnvironmentSnapshot snapshot, IBlobStaging? staging, CancellationToken cancellationToken)
    {
        try
        {
            return await connection.SyncAsync(snapshot, staging, cancellationToken).ConfigureAwait(false);
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
}
