namespace Coiled.Remote.Tests.Support;

/// <summary>A folder under /tmp that is deleted, with everything in it, when disposed.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix = "coiled-remote-test-") => Path = Directory.CreateTempSubdirectory(prefix).FullName;

    public string Path { get; }

    public void Dispose()
    {
        if (Directory.Exists(Path))
        {
            // An in-process worker in daemon mode moves this process into the environment it opened (WorkerService
            // sets the current directory); deleting that folder under the process would break every later test.
            if (Environment.CurrentDirectory.StartsWith(Path, StringComparison.Ordinal))
            {
                Environment.CurrentDirectory = AppContext.BaseDirectory;
            }

            Directory.Delete(Path, recursive: true);
        }
    }
}
