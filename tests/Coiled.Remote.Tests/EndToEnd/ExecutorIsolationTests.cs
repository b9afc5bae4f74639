using System.Security.Cryptography;
using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>
/// One hand-started worker daemon serving several clients and builds at once: each environment, with its forwarded
/// variables, runs in an executor process of its own, with its own working directory and variables.
/// </summary>
public sealed class ExecutorIsolationTests
{
    private const string Variable = "COILED_REMOTE_TEST_CLIENT";
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(3);

    [LinuxFact]
    public async Task MapAsync_TwoClientsWithTheirOwnBuildAndVariableOnOneDaemonAtOnce_EachSeesOnlyItsOwnDirectoryFilesAndVariable()
    {
        await using var daemon = await TestDaemon.StartAsync();
        using var buildA = new AppBuild("build-a");
        using var buildB = new AppBuild("build-b");
        await using var a = await ConnectAsync(daemon, buildA, "client-a");
        await using var b = await ConnectAsync(daemon, buildB, "client-b");

        var seen = await Task.WhenAll(
            a.MapAsync(TestJobs.Look, Enumerable.Range(0, 20).Select(i => (Variable, i))),
            b.MapAsync(TestJobs.Look, Enumerable.Range(0, 20).Select(i => (Variable, i)))).WaitAsync(Safety);

        var (byA, byB) = (seen[0], seen[1]);
        byA.Should().OnlyContain(s => s.Variable == "client-a" && s.Build == "build-a");
        byB.Should().OnlyContain(s => s.Variable == "client-b" && s.Build == "build-b");
        byA.Should().OnlyContain(s => s.Written.All(f => f.StartsWith("written-client-a-", StringComparison.Ordinal)), "a task sees the files its own client's tasks wrote, never the other's");
        byB.Should().OnlyContain(s => s.Written.All(f => f.StartsWith("written-client-b-", StringComparison.Ordinal)));
        byA.Select(s => s.WorkingDirectory).Distinct().Should().ContainSingle()
            .Which.Should().NotBe(byB[0].WorkingDirectory).And.StartWith(daemon.CachePath, "each executor works in a private folder of the daemon's cache");
        byB.Select(s => s.WorkingDirectory).Distinct().Should().ContainSingle();
        byA.Select(s => s.ProcessId).Distinct().Should().ContainSingle().Which.Should().NotBe(byB[0].ProcessId).And.NotBe(daemon.ProcessId);
        Environment.GetEnvironmentVariable(Variable).Should().BeNull("the test set it only while each cluster captured it");
    }

    [LinuxFact]
    public async Task SubmitAsync_TaskOverwritesAFileOfItsApp_OnlyItsExecutorsCopyChangesNeverTheCacheOrAnotherExecutor()
    {
        await using var daemon = await TestDaemon.StartAsync();
        using var build = new AppBuild("shipped");
        var cached = Path.Combine(daemon.CachePath, "blobs", Convert.ToHexStringLower(SHA256.HashData("shipped"u8)));
        await using var writer = await ConnectAsync(daemon, build, "writer");
        await using var reader = await ConnectAsync(daemon, build, "reader");

        var written = await writer.SubmitAsync(TestJobs.Overwrite, "build.txt", "changed by a task").WaitAsync(Safety);
        var read = await reader.SubmitAsync(TestJobs.ReadAppFile, "build.txt").WaitAsync(Safety);

        written.Should().Be("changed by a task");
        read.Should().Be("shipped", "the same build with other variables runs in another executor, with its own copy of the app's files");
        (await File.ReadAllTextAsync(cached)).Should().Be("shipped", "a task never writes into the shared cache");
    }

    [LinuxFact]
    public async Task SubmitAsync_TaskReadsAFileInASubfolderOfItsAppThroughAppContextBaseDirectory_ReadsItsOwnBuildsFile()
    {
        await using var daemon = await TestDaemon.StartAsync();
        using var build = new AppBuild("shipped");
        Directory.CreateDirectory(Path.Combine(build.Path, "data", "nested"));
        File.WriteAllText(Path.Combine(build.Path, "data", "nested", "notes.txt"), "shipped in a subfolder");
        await using var cluster = await ConnectAsync(daemon, build, "reader");

        var read = await cluster.SubmitAsync(TestJobs.ReadBesideApp, Path.Combine("data", "nested", "notes.txt")).WaitAsync(Safety);

        read.Should().Be("shipped in a subfolder");
    }

    /// <summary>Connects to the daemon with <paramref name="build"/>, forwarding <see cref="Variable"/> as <paramref name="value"/>.</summary>
    private static async Task<Cluster> ConnectAsync(TestDaemon daemon, AppBuild build, string value)
    {
        // A cluster captures its forwarded variables when it connects.
        Environment.SetEnvironmentVariable(Variable, value);
        try
        {
            return await Cluster.ConnectAsync([daemon.Address], TestDaemon.Token, build.Options(Variable)).WaitAsync(Safety);
        }
        finally
        {
            Environment.SetEnvironmentVariable(Variable, null);
        }
    }
}
