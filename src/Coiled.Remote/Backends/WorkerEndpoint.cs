namespace Coiled.Remote;

/// <summary>Where a cluster reaches one worker, as reported by its backend.</summary>
/// <param name="Address">The worker's gRPC address, e.g. <c>http://127.0.0.1:43117</c>.</param>
public sealed record WorkerEndpoint(Uri Address)
{
    /// <summary>
    /// The worker runs tasks with the caller's own loaded code instead of a synchronized copy (in-process workers);
    /// the cluster then skips environment synchronization.
    /// </summary>
    public bool UsesCallerProcess { get; init; }

    /// <summary>SHA-256 thumbprint of the worker's TLS certificate, pinned by the client; null for plaintext loopback.</summary>
    public string? CertificateThumbprint { get; init; }

    /// <summary>
    /// Environment variables the backend gives this worker's tasks (for example cloud credentials), merged over
    /// <see cref="ClusterOptions.ForwardEnvironmentVariables"/>. They travel on the cluster's own connection, which is
    /// TLS for every non-loopback backend.
    /// </summary>
    public IReadOnlyDictionary<string, string>? EnvironmentVariables { get; init; }

    /// <summary>Completes with how the worker's process ended ("exit code 1", "killed by SIGKILL"), where the backend can observe it.</summary>
    public Task<string>? Exited { get; init; }

    /// <summary>
    /// Stops the worker at once, where the backend owns it: called when the cluster declared it lost because it went
    /// silent, so that it cannot go on running tasks that now run elsewhere.
    /// </summary>
    internal Action? Abandon { get; init; }

    /// <summary>
    /// The worker was started by hand (<see cref="Cluster.ConnectAsync(IEnumerable{WorkerEndpoint}, string, ClusterOptions?, CancellationToken)"/>):
    /// it keeps running for the next client when the cluster closes, instead of being shut down with it.
    /// </summary>
    internal bool StartedByHand { get; init; }
}
