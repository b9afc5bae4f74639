using Microsoft.Extensions.Logging;

namespace Coiled.Remote.KeptClusters;

/// <summary>
/// A running named cluster's place in the registry: when the cluster is disposed, its workers are kept (with a
/// <see cref="ClusterOptions.KeepAlive"/>) and the entry says which, or they are stopped and the entry goes.
/// </summary>
internal sealed class KeptCluster(ClusterRegistry registry, RegisteredCluster entry, IKeepingBackend backend, TimeSpan keepAlive, TimeProvider time, ILogger logger)
{
    /// <summary>How long the registry may be locked by another start or stop before disposal gives up updating it.</summary>
    private static readonly TimeSpan LockPatience = TimeSpan.FromSeconds(30);

    /// <summary>The cluster's name.</summary>
    public string Name => entry.Name;

    /// <summary>The workers this cluster has had: those of the entry it started or attached with, and those it recorded.</summary>
    private readonly HashSet<Uri> _ours = [.. entry.Workers.Select(w => w.Address)];

    /// <summary>Whether disposal leaves the workers running.</summary>
    public bool KeepsWorkers => keepAlive > TimeSpan.Zero;

    /// <summary>Before the backend is disposed: a kept cluster's backend lets go of its workers instead of stopping them.</summary>
    public void BeforeDisposal()
    {
        if (KeepsWorkers)
        {
            backend.Keep();
        }
    }

    /// <summary>
    /// Records a worker that joined after the start (late, a replacement, scaling up), so that a process killed before
    /// its cluster's disposal leaves no kept worker the registry does not know. Never throws.
    /// </summary>
    public async Task RecordAsync(WorkerEndpoint endpoint)
    {
        if (backend.Describe(endpoint) is not { } worker)
        {
            return;
        }

        lock (_ours)
        {
            _ours.Add(worker.Address);
        }

        await UpdateAsync(current => current with { Workers = [.. current.Workers.Where(w => w.Address != worker.Address), worker] }).ConfigureAwait(false);
    }

    /// <summary>
    /// Before a stopping disposal (no keep-alive) stops the workers: takes the name's lock, held until the returned
    /// handle is disposed, and removes the entry, so that no other process attaches to workers that are stopping.
    /// Null for a kept cluster. Never throws: without the lock, the workers stop all the same.
    /// </summary>
    public async Task<IDisposable?> BeginStopAsync()
    {
        if (KeepsWorkers)
        {
            return null;
        }

        try
        {
            var held = await registry.LockAsync(Name, LockPatience, time, CancellationToken.None).ConfigureAwait(false);
            if (Current() is { } current && current.Token == entry.Token)
            {
                registry.Delete(Name);
            }

            return held;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or TimeoutException)
        {
            logger.RegistryNotUpdated(ex, Name, ex.Message);
            return null;
        }
    }

    /// <summary>
    /// After the backend was disposed: records the <paramref name="running"/> workers kept, beside those another process
    /// attached to the same name added (none at all: the entry goes), or says the workers stopped. An entry that another
    /// start replaced meanwhile (a new token) is left alone. Never throws.
    /// </summary>
    public async Task AfterDisposalAsync(IReadOnlyList<RegisteredWorker> running)
    {
        if (!KeepsWorkers)
        {
            logger.NamedClusterStopped(Name);
            return;
        }

        HashSet<Uri> ours;
        lock (_ours)
        {
            ours = [.. _ours];
        }

        var kept = await UpdateAsync(current =>
        {
            List<RegisteredWorker> workers = [.. current.Workers.Where(w => !ours.Contains(w.Address) && running.All(r => r.Address != w.Address)), .. running];
            return workers.Count == 0 ? null : current with { Workers = workers, ReleasedAt = time.GetUtcNow() };
        }).ConfigureAwait(false);
        if (kept is not null)
        {
            logger.NamedClusterKept(Name, running.Count, kept.KeepAlive);
        }
    }

    /// <summary>
    /// Rewrites the entry under the name's lock with what <paramref name="change"/> makes of it (null removes it); an
    /// entry of another cluster of the name (another token) is left alone. Returns what was written.
    /// </summary>
    private async Task<RegisteredCluster?> UpdateAsync(Func<RegisteredCluster, RegisteredCluster?> change)
    {
        try
        {
            using var held = await registry.LockAsync(Name, LockPatience, time, CancellationToken.None).ConfigureAwait(false);
            var current = Current();
            if (current is not null && current.Token != entry.Token)
            {
                return null;
            }

            var changed = change(current ?? entry);
            if (changed is null)
            {
                registry.Delete(Name);
            }
            else
            {
                registry.Write(changed);
            }

            return changed;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or TimeoutException)
        {
            logger.RegistryNotUpdated(ex, Name, ex.Message);
            return null;
        }
    }

    private RegisteredCluster? Current()
    {
        try
        {
            return registry.Read(Name);
        }
        catch (InvalidDataException)
        {
            return null;
        }
    }
}
