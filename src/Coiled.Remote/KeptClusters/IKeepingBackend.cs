using Microsoft.Extensions.Logging;

namespace Coiled.Remote.KeptClusters;

/// <summary>
/// A backend whose workers can outlive their cluster and its process: a named cluster with a
/// <see cref="ClusterOptions.KeepAlive"/> leaves them running, and a later start with the same name adopts them.
/// </summary>
internal interface IKeepingBackend
{
    /// <summary>What kind of workers these are, as the registry records it; a later start must be of the same kind to attach (e.g. "local processes").</summary>
    string Kind { get; }

    /// <summary>The longest <see cref="ClusterOptions.KeepAlive"/> when <see cref="ClusterOptions.MaxKeepAlive"/> is unset.</summary>
    TimeSpan DefaultMaxKeepAlive { get; }

    /// <summary>The folder of this machine's registry of named clusters of this kind.</summary>
    string RegistryDirectory { get; }

    /// <summary>What the registry keeps of one of this backend's running workers to find it again; null for a worker it does not know.</summary>
    RegisteredWorker? Describe(WorkerEndpoint endpoint);

    /// <summary>What the registry keeps of the cluster as a whole to find it again (for EC2: its region, tag and security group); empty for none.</summary>
    IReadOnlyDictionary<string, string> Properties { get; }

    /// <summary>
    /// The workers of <paramref name="cluster"/> that still run, taken as this backend's own: it stops them when it is
    /// disposed (unless kept) or told to (<see cref="IClusterBackend.StopWorkerAsync"/>). Those gone are left out.
    /// </summary>
    /// <param name="cluster">The registry's entry.</param>
    /// <param name="keepAlive">The attaching start's <see cref="ClusterOptions.KeepAlive"/>: zero when its disposal stops the workers.</param>
    /// <param name="loggerFactory">Where the backend logs.</param>
    /// <param name="cancellationToken">Stops the adoption.</param>
    /// <exception cref="ClusterStartException">The entry's workers cannot be reached from this start (another region, say): nothing was adopted.</exception>
    Task<IReadOnlyList<WorkerEndpoint>> AdoptAsync(RegisteredCluster cluster, TimeSpan keepAlive, ILoggerFactory loggerFactory, CancellationToken cancellationToken);

    /// <summary>From now on, disposing the backend leaves its workers running; their own timers end them.</summary>
    void Keep();

    /// <summary>
    /// The registry lists the workers now, so that the next start of the name finds them: from here on a kept cluster's
    /// workers outlive Ctrl+C and the end of this process. Until then, an interrupt ends them as any cluster's.
    /// </summary>
    void Registered();
}
