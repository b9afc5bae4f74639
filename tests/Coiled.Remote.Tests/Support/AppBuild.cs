namespace Coiled.Remote.Tests.Support;

/// <summary>
/// A copy of this test application's output folder that a cluster synchronizes instead of the folder itself
/// (<see cref="ClusterOptions.ApplicationDirectory"/>): the same code, and a <c>build.txt</c> (and any other file) that
/// makes it another build, with another environment id. Deleted when disposed.
/// </summary>
internal sealed class AppBuild : IDisposable
{
    private readonly TempDirectory _folder = new("coiled-remote-build-");

    public AppBuild(string name)
    {
        foreach (var file in Directory.EnumerateFiles(AppContext.BaseDirectory, "*", SearchOption.AllDirectories))
        {
            var relative = System.IO.Path.GetRelativePath(AppContext.BaseDirectory, file);
            if (relative.StartsWith("coiled-remote-worker" + System.IO.Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                continue;
            }

            var target = System.IO.Path.Combine(Path, relative);
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        Rebuild(name);
    }

    public string Path => _folder.Path;

    /// <summary>Makes this folder another build: its <c>build.txt</c> says <paramref name="name"/>.</summary>
    public void Rebuild(string name) => File.WriteAllText(System.IO.Path.Combine(Path, "build.txt"), name);

    /// <summary>Options that synchronize this build.</summary>
    public ClusterOptions Options(params string[] forwardedVariables) => new() { ApplicationDirectory = Path, ForwardEnvironmentVariables = forwardedVariables };

    public void Dispose() => _folder.Dispose();
}
