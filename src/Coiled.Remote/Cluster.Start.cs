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
    /// Starts the cluster: the backend provisions the workers and tells of each as it comes up; each is connected at
    /// once, synchronized (the first alone) and opened. Returns with the first <see cref="ClusterOptions.MinimumWorkers"/>
    /// ready workers; the rest join the running cluster. On failure or cancellation whatever was started is stopped.
    /// </summary>
    internal static async Task<Cluster> StartCoreAsync(ClusterOptions options, IClusterBackend backend, string? token, CancellationToken cancellationToken)
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
        var launch = new WorkerLaunch(count, token ?? NewToken(), options.IdleTimeout, options.NoClientTimeout, loggerFactory)
        {
            MinimumCount = options.MinimumWorkers ?? count,
            KeepAlive = options.Name is null ? TimeSpan.Zero : options.KeepAlive,
            ClusterName = options.Name,
        };
        var started = time.GetTimestamp();
        Report(options, "starting workers", 0, count);
        var application = Task.Run(() => ScanApplication(options.ApplicationDirectory, logger), cancellationToken);
        var variables = ForwardedVariables(options, logger);
        var arrivals = new WorkerArrivals(backend, launch, options, application, variables, logger);
        var first = new List<WorkerArrival>();

        // Started last before the try, whose failure path stops it: nothing between can leave it listening.
        var (dashboard, dashboardServer) = StartDashboard(options, backend, launch.Token, loggerFactory);
        try
        {
            arrivals.Begin();
            using (cancellationToken.Register(arrivals.Cancel))
            {
                while (first.Count < launch.MinimumCount)
                {
                    if (!await arrivals.Ready.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        arrivals.Failure?.Throw();
                        throw new ClusterStartException($"The {backend.Name} backend ended after {first.Count} of {count} worker(s) without saying why.");
                    }

                    while (first.Count < launch.MinimumCount && arrivals.Ready.TryRead(out var arrival))
                    {
                        first.Add(arrival);
                    }
                }

                cancellationToken.ThrowIfCancellationRequested();
            }

            var total = time.GetElapsedTime(started);
            var report = new SyncReport(
                first.Sum(a => a.BlobsSent), first.Sum(a => a.BytesSent), first.Max(a => a.ManifestFiles), total, first.Sum(a => a.BlobsFetched), first.Sum(a => a.BytesFetched));
            var session = new ClusterSession(launch, application.IsCompletedSuccessfully ? application.Result : null, variables, report);
            logger.ClusterStarted(backend.Name, total.TotalMilliseconds, first.Count, count, report.BlobsSent, report.BytesSent);
            Report(options, "running", first.Count, count);
            // The workers that came at start are listed in the order the backend named them (the order of ConnectAsync's endpoints).
            return new Cluster(
                backend, [.. first.OrderBy(a => a.Order).Select(a => a.Connection)], options, loggerFactory, session, arrivals, dashboard,
                await dashboardServer.ConfigureAwait(false));
        }
        catch (Exception ex)
        {
            arrivals.Cancel();
            await arrivals.StopAsync().ConfigureAwait(false);
            await StopStartedAsync(backend, [.. arrivals.Connections]).ConfigureAwait(false);
            await StopDashboardAsync(dashboardServer).ConfigureAwait(false);

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
        RecordJoined(connection);
    }

    /// <summary>What is wrong with <paramref name="options"/>, or null when the cluster can start with them.</summary>
    private static ArgumentOutOfRangeException? Validate(ClusterOptions options, int count)
    {
        if (count < 1)
        {
            return new ArgumentOutOfRangeException(nameof(options), count, "ClusterOptions.Workers must be at least 1.");
        }

        if (options.MinimumWorkers is { } minimum && (minimum < 1 || minimum > count))
        {
            return new ArgumentOutOfRangeException(
                nameof(options), minimum,
                $"ClusterOptions.MinimumWorkers is {minimum}; it must be from 1 to the {count} worker(s) the cluster starts (ClusterOptions.Workers), " +
                "or unset to wait for all of them.");
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

        if (options.IdleWarningAfter < TimeSpan.Zero && options.IdleWarningAfter != Timeout.InfiniteTimeSpan)
        {
            return new ArgumentOutOfRangeException(
                nameof(options), options.IdleWarningAfter,
                $"ClusterOptions.IdleWarningAfter is {options.IdleWarningAfter.TotalSeconds:0.###} s; it must not be negative " +
                $"(default {ClusterOptions.DefaultIdleWarningAfter.TotalMinutes:0} min). Use TimeSpan.Zero or Timeout.InfiniteTimeSpan to never warn about idle workers.");
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

    /// <summary>The application as <paramref name="connection"/>'s platform needs it; refused when it cannot run there.</summary>
    internal static EnvironmentSnapshot SnapshotFor(ApplicationFolder application, WorkerConnection connection)
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

    internal static async Task<EnvironmentUploader.Outcome> SyncOneAsync(
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

    internal static async Task OpenOneAsync(WorkerConnection connection, string environmentId, IReadOnlyDictionary<string, string> variables, CancellationToken cancellationToken)
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
