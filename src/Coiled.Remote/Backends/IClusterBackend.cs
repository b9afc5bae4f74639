using System.Runtime.CompilerServices;

namespace Coiled.Remote;

/// <summary>
/// Provisions the workers of a cluster: processes on this machine, workers inside this process, or cloud machines.
/// A backend instance serves the one cluster started with it; the cluster disposes it, and disposal must stop
/// every worker and release every resource the backend created.
/// </summary>
public interface IClusterBackend : IAsyncDisposable
{
    /// <summary>A short name for messages, e.g. "local processes".</summary>
    string Name { get; }

    /// <summary>Workers to start when <see cref="ClusterOptions.Workers"/> is not set.</summary>
    int DefaultWorkerCount { get; }

    /// <summary>What the backend's machines have cost so far in US dollars; null when the backend does not know prices.</summary>
    decimal? Cost { get; }

    /// <summary>
    /// Starts <see cref="WorkerLaunch.Count"/> workers and returns where each listens, once each accepts connections.
    /// On failure or cancellation, whatever was started is stopped before this method returns.
    /// </summary>
    Task<IReadOnlyList<WorkerEndpoint>> StartWorkersAsync(WorkerLaunch launch, CancellationToken cancellationToken);

    /// <summary>
    /// The cluster is done with one of its workers, which was lost (silent, or its connection broke) or whose machine is
    /// being reclaimed: stop it and what it runs on, so that it costs nothing more. The cluster tells it once, after the
    /// worker's tasks went elsewhere, and does not wait for it before starting a replacement. Never throws for a worker
    /// that is already gone. The default does nothing: such a worker stops by itself once no client is connected, and
    /// disposal stops every worker.
    /// </summary>
    /// <param name="endpoint">The worker, as the backend yielded it.</param>
    /// <param name="reason">Why, for the backend's log.</param>
    /// <param name="cancellationToken">Stops waiting; the stop may still happen.</param>
    Task StopWorkerAsync(WorkerEndpoint endpoint, string reason, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Starts <see cref="WorkerLaunch.Count"/> workers and yields each one's endpoint as soon as that worker accepts
    /// connections, so that the cluster connects to it while the others still start. The cluster starts this way; the
    /// default waits for <see cref="StartWorkersAsync"/> and yields what it returns.
    /// </summary>
    /// <remarks>
    /// A worker that cannot start ends the sequence with an exception (best a <see cref="ClusterStartException"/> that
    /// names it and says why) after the others have come or failed, or at once when fewer than
    /// <see cref="WorkerLaunch.MinimumCount"/> can still come. Workers already yielded keep running when the sequence
    /// fails or is cancelled; the backend stops them when it is disposed. Before it throws, the backend stops the workers
    /// it did not yield.
    /// </remarks>
    async IAsyncEnumerable<WorkerEndpoint> StartWorkersStreamingAsync(WorkerLaunch launch, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var endpoint in await StartWorkersAsync(launch, cancellationToken).ConfigureAwait(false))
        {
            yield return endpoint;
        }
    }
}
