using Coiled.Remote.Scheduling;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coiled.Remote.KeptClusters;

/// <summary>
/// This machine's named clusters of local workers, for <c>coiled-remote ls</c> and <c>coiled-remote stop NAME</c>:
/// listed with what runs, and stopped (their workers asked to stop, killed if they do not, and checked gone).
/// </summary>
internal static class NamedClusters
{
    /// <summary>How long a stopped worker gets to exit by itself before it is killed.</summary>
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(3);

    /// <summary>How long <c>stop</c> waits for a start or stop of the same name under way.</summary>
    private static readonly TimeSpan LockPatience = TimeSpan.FromSeconds(30);

    /// <summary>The registry of local named clusters whose workers keep their files in <paramref name="cacheDirectory"/> (default: the user's cache folder).</summary>
    public static ClusterRegistry LocalRegistry(string? cacheDirectory)
        => new(((IKeepingBackend)new LocalProcessBackend { CacheDirectory = cacheDirectory }).RegistryDirectory);

    /// <summary>
    /// Every named cluster in <paramref name="registry"/>, with its workers that run now (local workers by their process;
    /// others by <paramref name="countRunning"/>, unknown without it); entries that cannot be read are skipped.
    /// </summary>
    public static async Task<IReadOnlyList<NamedClusterStatus>> ListAsync(
        ClusterRegistry registry, TimeProvider time, Func<RegisteredCluster, CancellationToken, Task<int?>>? countRunning, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var clusters = new List<NamedClusterStatus>();
        foreach (var name in registry.Names())
        {
            RegisteredCluster? entry;
            try
            {
                entry = registry.Read(name);
            }
            catch (Exception ex) when (ex is InvalidDataException or IOException)
            {
                continue;
            }

            if (entry is null)
            {
                continue;
            }

            int? running = IsLocal(entry) ? entry.Workers.Count(IsRunning)
                : countRunning is null ? null
                : await countRunning(entry, cancellationToken).ConfigureAwait(false);
            var inUse = entry.ReleasedAt is null && running is null or > 0;
            var idle = inUse ? (TimeSpan?)null : now - (entry.ReleasedAt ?? entry.AttachedAt);
            var stopsIn = idle is { } since && running is null or > 0 ? Max(entry.KeepAlive - since, TimeSpan.Zero) : (TimeSpan?)null;
            var backend = entry.Properties.TryGetValue("region", out var region) ? $"{entry.Backend} {region}" : entry.Backend;
            // Paid until now, or, once nothing runs, until the keep-alive after its release ended it at the latest.
            var paidUntil = running == 0 && entry.ReleasedAt is { } released && released + entry.KeepAlive < now ? released + entry.KeepAlive : now;
            clusters.Add(new NamedClusterStatus(
                entry.Name, backend, running, entry.Workers.Count, now - entry.StartedAt, idle, stopsIn, entry.HourlyCost * (decimal)Max(paidUntil - entry.StartedAt, TimeSpan.Zero).TotalHours));
        }

        return clusters;
    }

    /// <summary>
    /// Stops the workers of <paramref name="name"/>, then forgets the name. Local workers are asked to stop over their
    /// connection, killed when they have not exited within a few seconds, and checked gone; other workers are adopted
    /// by the backend <paramref name="backendOf"/> gives for the entry, and that backend's disposal ends them (for EC2:
    /// terminated, waited for until EC2 says so, and the security group deleted).
    /// </summary>
    /// <returns>How many workers were running and are stopped now.</returns>
    /// <exception cref="KeyNotFoundException">No cluster of that name is registered.</exception>
    /// <exception cref="InvalidOperationException">A worker still runs after it was killed, or no backend is given for the cluster's kind.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is not a cluster name.</exception>
    public static async Task<int> StopAsync(
        ClusterRegistry registry, string? cacheDirectory, string name, Func<RegisteredCluster, IClusterBackend?>? backendOf, CancellationToken cancellationToken)
    {
        if (!ClusterRegistry.IsValidName(name))
        {
            throw new ArgumentException($"'{name}' is not a cluster name: use {ClusterRegistry.NameRule}.", nameof(name));
        }

        using var held = await registry.LockAsync(name, LockPatience, TimeProvider.System, cancellationToken).ConfigureAwait(false);
        var entry = registry.Read(name) ?? throw new KeyNotFoundException($"No named cluster '{name}' in {registry.Directory}; `coiled-remote ls` lists those there are.");
        if (!IsLocal(entry))
        {
            return await StopOtherAsync(registry, entry, backendOf?.Invoke(entry), cancellationToken).ConfigureAwait(false);
        }

        var backend = new LocalProcessBackend { CacheDirectory = cacheDirectory };
        var keeping = (IKeepingBackend)backend;

        var running = await keeping.AdoptAsync(entry, TimeSpan.Zero, NullLoggerFactory.Instance, cancellationToken).ConfigureAwait(false);
        await Task.WhenAll(running.Select(endpoint => AskToStopAsync(endpoint, entry.Token, cancellationToken))).ConfigureAwait(false);

        // Waits for each to exit, killing those that do not within the grace.
        await backend.DisposeAsync().ConfigureAwait(false);
        var left = entry.Workers.Where(IsRunning).ToList();
        if (left.Count > 0)
        {
            throw new InvalidOperationException(
                $"{left.Count} worker(s) of named cluster '{name}' still run after they were killed: process(es) {string.Join(", ", left.Select(w => w.ProcessId))}.");
        }

        registry.Delete(name);
        return running.Count;
    }

    /// <summary>Ends the workers of a cluster that are not local processes through their own backend, which adopts them and is disposed.</summary>
    private static async Task<int> StopOtherAsync(ClusterRegistry registry, RegisteredCluster entry, IClusterBackend? backend, CancellationToken cancellationToken)
    {
        if (backend is not IKeepingBackend keeping || keeping.Kind != entry.Backend)
        {
            if (backend is not null)
            {
                await backend.DisposeAsync().ConfigureAwait(false);
            }

            throw new InvalidOperationException($"Named cluster '{entry.Name}' runs on {entry.Backend}, which this command cannot reach.");
        }

        IReadOnlyList<WorkerEndpoint> running;
        try
        {
            running = await keeping.AdoptAsync(entry, TimeSpan.Zero, NullLoggerFactory.Instance, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            keeping.Keep();
            await backend.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        // Disposal without a keep ends what was adopted, and anything else of the cluster, and checks it gone.
        await backend.DisposeAsync().ConfigureAwait(false);
        registry.Delete(entry.Name);
        return running.Count;
    }

    private static bool IsLocal(RegisteredCluster entry) => entry.Backend == LocalProcessBackend.KeptKind;

    /// <summary>Asks a worker to stop over its own connection; one that does not answer is killed by the backend after the grace.</summary>
    private static async Task AskToStopAsync(WorkerEndpoint endpoint, string token, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await WorkerConnection.ConnectAsync(endpoint, token, StopGrace, TimeProvider.System, cancellationToken).ConfigureAwait(false);
            await connection.ShutdownAsync("coiled-remote stop").ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // It does not answer: killed after the grace.
        }
    }

    /// <summary>Whether a registered local worker's process still runs (the same process: started when it was registered).</summary>
    private static bool IsRunning(RegisteredWorker worker)
    {
        using var process = worker is { ProcessId: { } id, ProcessStartedAt: { } startedAt } ? WorkerProcess.Find(id, startedAt) : null;
        return process is not null;
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
