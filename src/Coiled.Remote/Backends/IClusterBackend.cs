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
}
