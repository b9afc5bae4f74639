using Coiled.Remote.Transport.Protocol;

namespace Coiled.Remote.Synchronization;

/// <summary>
/// The caller's application as workers of one platform get it (<see cref="ApplicationFolder.SnapshotFor"/>): the
/// manifest of its files, each named by its SHA-256, and where each blob is on this machine.
/// </summary>
internal sealed class EnvironmentSnapshot
{
    public EnvironmentSnapshot(string baseDirectory, Manifest manifest, IReadOnlyDictionary<string, string> blobPaths, long totalBytes)
    {
        BaseDirectory = baseDirectory;
        Manifest = manifest;
        BlobPaths = blobPaths;
        TotalBytes = totalBytes;
    }

    public string BaseDirectory { get; }

    public Manifest Manifest { get; }

    /// <summary>Local file for each blob, keyed by lower-case hex SHA-256.</summary>
    public IReadOnlyDictionary<string, string> BlobPaths { get; }

    public long TotalBytes { get; }
}
