using System.Runtime.CompilerServices;
using Coiled.Remote.Synchronization;

namespace Coiled.Remote;

/// <summary>
/// A named cluster's running workers, adopted by <paramref name="inner"/>: the cluster's start attaches to them instead
/// of starting new ones, and every later start (replacements, scaling), every stop and the disposal go to
/// <paramref name="inner"/>, which owns them now. Disposed before <see cref="Attached"/> (the attach failed), it leaves
/// the workers running: they belong to the named cluster, not to the start that could not use them.
/// </summary>
internal sealed class AttachedBackend(IClusterBackend inner, IReadOnlyList<WorkerEndpoint> running) : IClusterBackend, IStagingBackend
{
    private int _attached;
    private bool _started;

    /// <summary>The backend that adopted the workers and starts any more.</summary>
    public IClusterBackend Inner => inner;

    public string Name => inner.Name;

    public int DefaultWorkerCount => running.Count;

    public decimal? Cost => inner.Cost;

    public IBlobStaging? Staging => (inner as IStagingBackend)?.Staging;

    public async Task<IReadOnlyList<WorkerEndpoint>> StartWorkersAsync(WorkerLaunch launch, CancellationToken cancellationToken)
    {
        var started = new List<WorkerEndpoint>();
        await foreach (var endpoint in StartWorkersStreamingAsync(launch, cancellationToken).ConfigureAwait(false))
        {
            started.Add(endpoint);
        }

        return started;
    }

    /// <summary>The first start yields the running workers; later ones start new workers through the inner backend.</summary>
    public async IAsyncEnumerable<WorkerEndpoint> StartWorkersStreamingAsync(WorkerLaunch launch, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _attached, 1) == 0)
        {
            foreach (var endpoint in running)
            {
                yield return endpoint;
            }

            yield break;
        }

        await foreach (var endpoint in inner.StartWorkersStreamingAsync(launch, cancellationToken).ConfigureAwait(false))
        {
            yield return endpoint;
        }
    }

    public Task StopWorkerAsync(WorkerEndpoint endpoint, string reason, CancellationToken cancellationToken) => inner.StopWorkerAsync(endpoint, reason, cancellationToken);

    /// <summary>The cluster started on these workers: from now on its disposal decides whether they are kept.</summary>
    public void Attached() => Volatile.Write(ref _started, true);

    public ValueTask DisposeAsync()
    {
        if (!Volatile.Read(ref _started) && inner is KeptClusters.IKeepingBackend keeping)
        {
            keeping.Keep();
        }

        return inner.DisposeAsync();
    }
}
