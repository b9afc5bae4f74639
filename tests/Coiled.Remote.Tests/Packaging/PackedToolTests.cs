using System.Diagnostics;
using System.Security.Cryptography;
using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Tests.Packaging;

/// <summary>
/// The coiled-remote dotnet tool, installed from the pack folder: its help, and two <c>coiled-remote worker</c>
/// processes that this test process uses through <see cref="Cluster.ConnectAsync"/> with its own [Remote] methods.
/// </summary>
[Collection(PackedPackagesCollection.Name)]
public sealed class PackedToolTests(PackedPackagesFixture packages)
{
    private const string Ready = "coiled-remote-worker listening on ";
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);

    [LinuxFact]
    public async Task Tool_InstallsFromPackFolder_AndTwoHandStartedWorkersRunAMapThroughConnectAsync()
    {
        var toolPath = Path.Combine(packages.Root, "tool");
        var install = await PackagingTools.DotnetAsync(
            packages.Root, "tool", "install", "--tool-path", toolPath, "--add-source", packages.Folder, "coiled-remote", "--version", packages.Version);
        install.ExitCode.Should().Be(0, "the tool installs from the pack folder:\n{0}", install.Output);
        var command = Path.Combine(toolPath, "coiled-remote");
        File.Exists(command).Should().BeTrue(install.Output);

        var help = await PackagingTools.RunAsync(command, packages.Root, "--help");
        help.ExitCode.Should().Be(0, help.Output);
        help.StandardOutput.Should().MatchRegex(@"(?m)^\s+worker\s", help.Output).And.MatchRegex(@"(?m)^\s+ec2\s", help.Output);

        using var temp = new TempDirectory("coiled-remote-tool-");
        var token = Convert.ToHexString(RandomNumberGenerator.GetBytes(32));
        var tokenFile = Path.Combine(temp.Path, "token");
        await File.WriteAllTextAsync(tokenFile, token);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        var workers = new List<Process>();
        try
        {
            var addresses = new List<Uri>();
            for (var i = 0; i < 2; i++)
            {
                var worker = Process.Start(PackagingTools.StartInfo(
                    command,
                    temp.Path,
                    ["worker", "--listen", "127.0.0.1:0", "--token-file", tokenFile, "--exit-with-stdin", "--cache-dir", Path.Combine(temp.Path, $"cache{i}")]))!;
                workers.Add(worker);
                addresses.Add(await ReadAddressAsync(worker));
            }

            await using (var cluster = await Cluster.ConnectAsync(addresses, token).WaitAsync(Safety))
            {
                cluster.Workers.Select(w => w.Address).Should().Equal(addresses);
                cluster.Workers.Should().OnlyContain(w => w.State == WorkerState.Ready);

                var squares = await cluster.MapAsync(TestJobs.Square, Enumerable.Range(1, 8).Select(i => (double)i)).WaitAsync(Safety);
                squares.Should().Equal(1, 4, 9, 16, 25, 36, 49, 64);
                var sums = await cluster.MapAsync(TestJobs.Add, [(1.0, 2.0), (3.0, 4.0)]).WaitAsync(Safety);
                sums.Should().Equal(3, 7);
                var processIds = await cluster.MapAsync(TestJobs.WorkerProcessId, Enumerable.Range(0, 16)).WaitAsync(Safety);
                processIds.Should().OnlyContain(id => workers.Any(w => w.Id == id), "the tasks ran in the two hand-started workers");
                (await cluster.SubmitAsync(TestJobs.Humanize, "PascalCaseInput").WaitAsync(Safety))
                    .Should().Be("Pascal case input", "a NuGet dependency of the caller reaches the tool's workers by synchronization");
            }

            workers.Should().OnlyContain(w => !w.HasExited, "disposing a connected cluster leaves the workers running");
        }
        finally
        {
            foreach (var worker in workers)
            {
                if (!worker.HasExited)
                {
                    worker.Kill(entireProcessTree: true);
                    await worker.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
                }

                worker.Dispose();
            }
        }
    }

    private static async Task<Uri> ReadAddressAsync(Process worker)
    {
        var line = await worker.StandardOutput.ReadLineAsync().WaitAsync(Safety);
        if (line is null || !line.StartsWith(Ready, StringComparison.Ordinal))
        {
            var error = worker.HasExited ? await worker.StandardError.ReadToEndAsync() : string.Empty;
            throw new InvalidOperationException($"coiled-remote worker printed '{line}' instead of its address. {error}");
        }

        return new Uri(line[Ready.Length..]);
    }
}
