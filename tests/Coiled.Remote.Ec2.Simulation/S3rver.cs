namespace Coiled.Remote.Ec2.Simulation;

/// <summary>
/// Where the tests find node and the s3rver package: <c>COILED_REMOTE_S3RVER</c> (its folder), else the cache folder
/// <c>eng/install-test-tools.sh</c> installs it to (<c>~/.cache/coiled-remote-tests/s3rver</c>).
/// </summary>
public static class S3rver
{
    public const string Version = "3.7.1";

    public static readonly string Missing =
        $"node and the s3rver {Version} npm package are needed for the local S3 endpoint; eng/install-test-tools.sh installs them " +
        "(with CI=true the tests that need them run and fail without them)";

    public static string CacheDirectory => Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "coiled-remote-tests", "s3rver");

    public static string? Node()
        => (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .SelectMany(folder => OperatingSystem.IsWindows() ? new[] { Path.Combine(folder, "node.exe") } : [Path.Combine(folder, "node")])
            .FirstOrDefault(File.Exists);

    public static string? ModuleDirectory()
    {
        if (Node() is null)
        {
            return null;
        }

        var folder = Environment.GetEnvironmentVariable("COILED_REMOTE_S3RVER") is { Length: > 0 } given
            ? given
            : Path.Combine(CacheDirectory, "node_modules", "s3rver");
        return File.Exists(Path.Combine(folder, "package.json")) ? folder : null;
    }
}
