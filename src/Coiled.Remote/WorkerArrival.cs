using Coiled.Remote.Scheduling;

namespace Coiled.Remote;

/// <summary>A worker connected, synchronized and opened, with what its synchronization sent.</summary>
/// <param name="Order">Where the backend named the worker among the others (0 for the first it yielded).</param>
/// <param name="Connection">The worker.</param>
/// <param name="BlobsSent">Files uploaded to it.</param>
/// <param name="BytesSent">Bytes uploaded to it.</param>
/// <param name="BlobsFetched">Files it fetched from the cluster's shared storage instead.</param>
/// <param name="BytesFetched">Bytes it fetched from there.</param>
/// <param name="ManifestFiles">Files of the application as its platform needs it; 0 for in-process workers.</param>
internal sealed record WorkerArrival(int Order, WorkerConnection Connection, int BlobsSent, long BytesSent, int ManifestFiles, int BlobsFetched = 0, long BytesFetched = 0);
