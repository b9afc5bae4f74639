using System.Diagnostics;

namespace Coiled.Remote.Ec2.Tests;

/// <summary><c>coiled-remote ls</c> and <c>coiled-remote stop NAME</c> as a child process, on a kept local named cluster.</summary>
public sealed class NamedClusterCliTests
{
    [Fact]
    public async Task LsThenStop_KeptLocalCluster_ListsItThenStopsItsWorkersAndForgetsIt()
    {
        var cache = Directory.CreateTempSubdirectory("coiled-remote-cli-").FullName;
        List<int> workers = [];
        try
        {
            await using (var cluster = await Cluster.StartAsync(new ClusterOptions
            {
                Name = "cli-loop",
                Workers = 2,
                KeepAlive = TimeSpan.FromMinutes(2),
                Backend = new LocalProcessBackend { CacheDirectory = cache },
            }))
            {
                workers = [.. cluster.Workers.Select(w => w.ProcessId)];
                (await cluster.SubmitAsync(Ec2Jobs.Square, 3.0)).Should().Be(9.0);
            }

            var (listCode, listed) = await RunAsync("ls", "--cache-dir", cache);
            var (stopCode, stopped) = await RunAsync("stop", "cli-loop", "--cache-dir", cache);
            var (emptyCode, empty) = await RunAsync("ls", "--cache-dir", cache);
            var (againCode, again) = await RunAsync("stop", "cli-loop", "--cache-dir", cache);

            listCode.Should().Be(0, listed);
            var lines = listed.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            lines[0].Should().MatchRegex("^NAME +BACKEND +WORKERS +AGE +IDLE +STOPS IN +COST$");
            lines[1].Should().MatchRegex(@"^cli-loop +local processes +2 +\d+s +\d+s +(1m[45]\ds|2m00s) +\$0\.00$", "the cluster was let go moments ago with a keep-alive of 2 minutes");
            stopCode.Should().Be(0, stopped);
            stopped.Trim().Should().Be("Stopped named cluster cli-loop: 2 worker(s) stopped and gone.");
            workers.Should().OnlyContain(pid => !IsRunning(pid));
            emptyCode.Should().Be(0, empty);
            empty.Trim().Should().Be("No named clusters.");
            againCode.Should().Be(1);
            again.Should().StartWith("coiled-remote stop: No named cluster 'cli-loop' in ").And.Contain("`coiled-remote ls` lists those there are.");
        }
        finally
        {
            foreach (var pid in workers.Where(IsRunning))
            {
                using var process = Process.GetProcessById(pid);
                process.Kill(entireProcessTree: true);
            }

            Directory.Delete(cache, recursive: true);
        }
    }

    private static bool IsRunning(int processId)
    {
        try
        {
            using var process = Process.GetProcessById(processId);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static async Task<(int Code, string Output)> RunAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "coiled-remote.dll"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
