namespace Coiled.Remote.Synchronization;

/// <summary>What synchronizing the cluster's workers sent: files and bytes uploaded, out of the files in the manifest.</summary>
internal readonly record struct SyncReport(int BlobsSent, long BytesSent, int ManifestFiles);
