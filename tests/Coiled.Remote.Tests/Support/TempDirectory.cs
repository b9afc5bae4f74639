using Coiled.Remote.Worker;

namespace Coiled.Remote.Tests.Support;

/// <summary>
/// A folder under /tmp that is deleted, with everything in it, when disposed: a worker cache's read-only files too,
/// which Windows deletes only once their read-only attribute is cleared.
/// </summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix = "coiled-remote-test-") => Path = Directory.CreateTempSubdirectory(prefix).FullName;

    public string Path { get; }

    public void Dispose()
    {
        if (Directory.Exists(Path))
        {
            BlobStore.DeleteFolder(Path);
        }
    }
}
