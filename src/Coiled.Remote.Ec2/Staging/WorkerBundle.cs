using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Coiled.Remote.Ec2;

/// <summary>
/// The self-contained worker for an instance architecture: <c>coiled-remote-worker-linux-x64.zip</c> or
/// <c>-linux-arm64.zip</c>, the worker daemon with the .NET runtime inside, which an instance unpacks and runs without
/// installing anything. The Coiled.Remote.Ec2 package brings both, and its build points the application at them
/// (the <c>Coiled.Remote.Ec2.WorkerBundleDirectory</c> runtime option).
/// </summary>
internal sealed record WorkerBundle(string Path, string Runtime, string Sha256, long Size)
{
    public const string DirectorySwitch = "Coiled.Remote.Ec2.WorkerBundleDirectory";

    private static readonly ConcurrentDictionary<(string Path, long Size, DateTime Written), string> s_hashes = new();

    /// <summary>The bundle for <paramref name="architecture"/> (<c>x86_64</c> or <c>arm64</c>), hashed; a clear error when it is missing.</summary>
    public static WorkerBundle Find(string architecture, string? directory = null)
    {
        var runtime = architecture == "arm64" ? "linux-arm64" : "linux-x64";
        directory ??= AppContext.GetData(DirectorySwitch) as string;
        if (string.IsNullOrEmpty(directory))
        {
            throw new ClusterStartException(
                $"The self-contained worker EC2 instances run ({FileName(runtime)}) could not be found: this application was built without the " +
                $"'{DirectorySwitch}' runtime option that the Coiled.Remote.Ec2 package's build sets. Reference the Coiled.Remote.Ec2 package " +
                "from the application's project (not only from a library it uses) and build again. Nothing was started.");
        }

        var path = System.IO.Path.Combine(directory, FileName(runtime));
        var file = new FileInfo(path);
        if (!file.Exists)
        {
            throw new ClusterStartException(
                $"The self-contained worker for {runtime} instances is not at {path}. Restore and build the application again " +
                "(the Coiled.Remote.Ec2 package brings it); nothing was started.");
        }

        var sha256 = s_hashes.GetOrAdd((file.FullName, file.Length, file.LastWriteTimeUtc), static key =>
        {
            using var stream = File.OpenRead(key.Path);
            return Convert.ToHexStringLower(SHA256.HashData(stream));
        });
        return new WorkerBundle(file.FullName, runtime, sha256, file.Length);
    }

    public static string FileName(string runtime) => $"coiled-remote-worker-{runtime}.zip";
}
