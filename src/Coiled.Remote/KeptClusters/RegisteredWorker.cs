namespace Coiled.Remote.KeptClusters;

/// <summary>One worker of a named cluster, as the registry keeps it: where it listens and how its backend finds it again.</summary>
/// <param name="Address">The worker's gRPC address.</param>
internal sealed record RegisteredWorker(Uri Address)
{
    /// <summary>SHA-256 thumbprint of the worker's TLS certificate, which the client pins; null for plaintext loopback.</summary>
    public string? CertificateThumbprint { get; init; }

    /// <summary>The local worker's process id.</summary>
    public int? ProcessId { get; init; }

    /// <summary>When the local worker's process started, so that another process that got the same id later is not taken for it.</summary>
    public DateTimeOffset? ProcessStartedAt { get; init; }

    /// <summary>The cloud machine the worker runs on.</summary>
    public string? InstanceId { get; init; }
}
