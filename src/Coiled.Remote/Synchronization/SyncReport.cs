namespace Coiled.Remote.Synchronization;

/// <summary>
/// What synchronizing the cluster's workers sent (files and bytes uploaded to them, out of the files in the manifest),
/// what they fetched from the cluster's shared storage instead, and how long it took, from the workers being connected
/// to every worker having the environment open.
/// </summary>
internal readonly record struct SyncReport(int BlobsSent, long BytesSent, int ManifestFiles, TimeSpan Elapsed = default, int BlobsFetched = 0, long BytesFetched = 0);
