using Coiled.Remote.KeptClusters;
using Coiled.Remote.Scheduling;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coiled.Remote;

// Named clusters: a start with ClusterOptions.Name attaches to the workers of that name that still run, or starts them
// and records them in this machine's registry; with a KeepAlive, disposal leaves them running for the next start.
public sealed partial class Cluster
{
    /// <summary>How long a start waits while another process starts or stops a cluster of the same name.</summary>
    private static readonly TimeSpan NamedStartPatience = TimeSpan.FromMinutes(10);

    /// <summary>The registry entry of a named cluster, which disposal updates; null for a cluster without a name.</summary>
    private KeptCluster? _kept;

    private static async Task<Cluster> StartNamedAsync(ClusterOptions options, IClusterBackend backend, CancellationToken cancellationToken)
    {
        IKeepingBackend keeping;
        try
        {
            keeping = ValidateNamed(options, backend);
        }
        catch
        {
            await backend.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        var name = options.Name!;
        var loggerFactory = options.LoggerFactory ?? NullLoggerFactory.Instance;
        var logger = loggerFactory.CreateLogger<Cluster>();
        var time = options.TimeProvider;
        var registry = new ClusterRegistry(keeping.RegistryDirectory);
        IDisposable held;
        try
        {
            held = await registry.LockAsync(name, NamedStartPatience, time, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await backend.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        using (held)
        {
            RegisteredCluster? entry = null;
            try
            {
                entry = registry.Read(name);
            }
            catch (InvalidDataException ex)
            {
                logger.RegistryEntryUnreadable(name, ex.Message);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                await backend.DisposeAsync().ConfigureAwait(false);
                throw new ClusterStartException($"The registry of named clusters in {registry.Directory} cannot be read ({ex.Message}); nothing was started.", ex);
            }

            if (entry is not null)
            {
                if (entry.Backend != keeping.Kind)
                {
                    await backend.DisposeAsync().ConfigureAwait(false);
                    throw new ClusterStartException(
                        $"Named cluster '{name}' runs on {entry.Backend}; this start asks for {keeping.Kind}. " +
                        $"Stop it first with `coiled-remote stop {name}`, or give this cluster another name.");
                }

                var attached = await AttachAsync(options, keeping, backend, registry, entry, logger, cancellationToken).ConfigureAwait(false);
                if (attached is not null)
                {
                    return attached;
                }

                logger.NamedClusterGone(name, entry.Workers.Count, entry.KeepAlive);
                registry.Delete(name);
            }

            var token = NewToken();
            var cluster = await StartCoreAsync(options, backend, token, cancellationToken).ConfigureAwait(false);
            var now = time.GetUtcNow();
            var started = new RegisteredCluster
            {
                Name = name,
                Backend = keeping.Kind,
                Token = token,
                StartedAt = now,
                AttachedAt = now,
                KeepAlive = options.KeepAlive,
                HourlyCost = cluster.HourlyCost(backend),
                Properties = keeping.Properties,
                Workers = cluster.RunningWorkers(keeping),
            };
            cluster.Register(registry, started, keeping, logger);
            if (options.KeepAlive > TimeSpan.Zero)
            {
                logger.NamedClusterStarted(name, started.Workers.Count, options.KeepAlive);
            }

            return cluster;
        }
    }

    /// <summary>
    /// Attaches to the workers of <paramref name="entry"/> that still run; null when none does. A failed attach stops
    /// the workers it adopted (they could not be used) and says so.
    /// </summary>
    private static async Task<Cluster?> AttachAsync(
        ClusterOptions options, IKeepingBackend keeping, IClusterBackend backend, ClusterRegistry registry, RegisteredCluster entry, ILogger logger,
        CancellationToken cancellationToken)
    {
        var time = options.TimeProvider;
        var began = time.GetTimestamp();
        IReadOnlyList<WorkerEndpoint> running;
        try
        {
            running = await keeping.AdoptAsync(entry, options.KeepAlive, options.LoggerFactory ?? NullLoggerFactory.Instance, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Nothing was adopted, and the workers of the name are not this start's to stop.
            keeping.Keep();
            await backend.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        if (running.Count == 0)
        {
            return null;
        }

        if (running.Count < entry.Workers.Count)
        {
            logger.NamedClusterWorkersGone(entry.Workers.Count - running.Count, entry.Workers.Count, entry.Name);
        }

        Cluster cluster;
        var attaching = new AttachedBackend(backend, running);
        try
        {
            cluster = await StartCoreAsync(options with { Workers = running.Count, MinimumWorkers = null }, attaching, entry.Token, cancellationToken)
                .ConfigureAwait(false);
        }
        catch (ClusterStartException ex)
        {
            // The workers run but could not be used (unreachable, or they refused the token): they are left as they
            // are, for the user to look at or stop, not killed behind their back.
            throw new ClusterStartException(
                $"Could not attach to named cluster '{entry.Name}' ({running.Count} running worker(s)): {ex.Message} " +
                $"Its workers were left running: stop them with `coiled-remote stop {entry.Name}` and start again for a new cluster of that name.", ex);
        }

        attaching.Attached();

        var now = time.GetUtcNow();
        var attached = entry with { AttachedAt = now, ReleasedAt = null, HourlyCost = cluster.HourlyCost(backend) ?? entry.HourlyCost, Workers = cluster.RunningWorkers(keeping) };
        cluster.Register(registry, attached, keeping, logger);
        logger.NamedClusterAttached(entry.Name, time.GetElapsedTime(began).TotalMilliseconds, running.Count, now - entry.StartedAt, cluster.LastSync.BlobsSent, cluster.LastSync.BytesSent);
        if (options.KeepAlive > TimeSpan.Zero && options.KeepAlive != entry.KeepAlive)
        {
            logger.KeepAliveUnchanged(entry.Name, entry.KeepAlive, options.KeepAlive);
        }

        if (options.Workers is { } wanted && wanted != running.Count)
        {
            try
            {
                await cluster.ScaleAsync(wanted, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await cluster.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }

        return cluster;
    }

    /// <summary>The backend that keeps workers, or what is wrong with a named start.</summary>
    private static IKeepingBackend ValidateNamed(ClusterOptions options, IClusterBackend backend)
    {
        if (options.KeepAlive < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.KeepAlive, "ClusterOptions.KeepAlive cannot be negative; zero stops the workers with the cluster.");
        }

        if (options.Name is null)
        {
            throw new ArgumentException(
                "ClusterOptions.KeepAlive keeps a named cluster's workers for the next start of that name: set ClusterOptions.Name too.", nameof(options));
        }

        if (!ClusterRegistry.IsValidName(options.Name))
        {
            throw new ArgumentException($"ClusterOptions.Name '{options.Name}' is not a cluster name: use {ClusterRegistry.NameRule}.", nameof(options));
        }

        if (backend is not IKeepingBackend keeping)
        {
            throw new ArgumentException(
                $"ClusterOptions.Name needs a backend whose workers can outlive the cluster, LocalProcessBackend or Ec2Backend; {backend.Name} cannot keep them. " +
                "Leave ClusterOptions.Name unset with this backend.", nameof(options));
        }

        var ceiling = options.MaxKeepAlive ?? keeping.DefaultMaxKeepAlive;
        if (options.KeepAlive > ceiling)
        {
            throw new ArgumentOutOfRangeException(
                nameof(options), options.KeepAlive,
                $"ClusterOptions.KeepAlive is {options.KeepAlive}, above ClusterOptions.MaxKeepAlive of {ceiling}" +
                $"{(options.MaxKeepAlive is null ? $" (the default for {keeping.Kind})" : string.Empty)}. Keep it shorter, or raise MaxKeepAlive knowingly.");
        }

        return keeping;
    }

    /// <summary>What the running workers' machines cost per hour, where the backend knows: nothing for local workers.</summary>
    private decimal? HourlyCost(IClusterBackend backend)
    {
        if (backend is not IBillingBackend billing)
        {
            return backend.Cost == 0m ? 0m : null;
        }

        lock (_connections)
        {
            var prices = _connections.Where(c => c.State is WorkerState.Ready or WorkerState.Starting).Select(c => billing.HourlyCost(c.Endpoint)).ToList();
            return prices.Any(p => p is null) ? null : prices.Sum(p => p!.Value);
        }
    }

    /// <summary>What the registry keeps of the workers that run now.</summary>
    private List<RegisteredWorker> RunningWorkers(IKeepingBackend keeping)
    {
        lock (_connections)
        {
            return [.. _connections
                .Where(c => c.State is WorkerState.Ready or WorkerState.Starting)
                .Select(c => keeping.Describe(c.Endpoint))
                .OfType<RegisteredWorker>()];
        }
    }

    private void Register(ClusterRegistry registry, RegisteredCluster entry, IKeepingBackend keeping, ILogger logger)
    {
        try
        {
            registry.Write(entry);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            logger.RegistryNotUpdated(ex, entry.Name, ex.Message);
        }

        _kept = new KeptCluster(registry, entry, keeping, _options.KeepAlive, _options.TimeProvider, logger);
        keeping.Registered();
    }

    /// <summary>A kept cluster's worker that came but had not joined when it was disposed runs on too: the registry lists it.</summary>
    private void KeepUnjoined(List<RegisteredWorker>? kept, WorkerEndpoint endpoint)
    {
        if (kept is not null && _kept is { KeepsWorkers: true } && KeepingBackend().Describe(endpoint) is { } worker)
        {
            kept.Add(worker);
        }
    }

    /// <summary>A worker that joined after the start is recorded at once, in the background (disposal waits for it).</summary>
    private void RecordJoined(WorkerConnection connection)
    {
        if (_kept is { } kept)
        {
            TrackStop(kept.RecordAsync(connection.Endpoint));
        }
    }

    private IKeepingBackend KeepingBackend() => (IKeepingBackend)(_backend is AttachedBackend attached ? attached.Inner : _backend);

    /// <summary>Disposal of a named cluster, before its backend: a kept cluster's workers are left running; what runs then.</summary>
    private List<RegisteredWorker>? KeepWorkers()
    {
        if (_kept is null)
        {
            return null;
        }

        var running = RunningWorkers(KeepingBackend());
        _kept.BeforeDisposal();
        return running;
    }
}
