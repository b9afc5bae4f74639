using System.Diagnostics;

namespace Coiled.Remote.Tests.Worker;

/// <summary>The coiled-remote-worker process itself: its command line and the timeouts that stop it.</summary>
public sealed class WorkerDaemonTests
{
    [Fact]
    public async Task Daemon_NoClientEverConnects_ExitsAfterItsNoClientTimeout()
    {
        var (exitCode, output, _) = await RunDaemonAsync("--no-client-timeout", "1", "--idle-timeout", "0");

        exitCode.Should().Be(0);
        output.Should().MatchRegex("stopped: no client connected for [12] s \\(no-client timeout 1 s\\)");
    }

    [Fact]
    public async Task Daemon_NoWork_ExitsAfterItsIdleTimeout()
    {
        var (exitCode, output, _) = await RunDaemonAsync("--idle-timeout", "1", "--no-client-timeout", "0");

        exitCode.Should().Be(0);
        output.Should().MatchRegex("stopped: no work for [12] s \\(idle timeout 1 s\\)");
    }

    [Fact]
    public async Task Daemon_UnknownOption_ExitsWithUsage()
    {
        var (exitCode, _, error) = await RunDaemonAsync("--frobnicate");

        exitCode.Should().Be(2);
        error.Should().Contain("coiled-remote-worker: Unknown option '--frobnicate'.").And.Contain("usage: coiled-remote-worker");
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunDaemonAsync(params string[] extra)
    {
        using var cache = new Support.TempDirectory();
        var start = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { Path.Combine(AppContext.BaseDirectory, "coiled-remote-worker.dll"), "--listen", "127.0.0.1:0", "--token-stdin", "--cache-dir", cache.Path }.Concat(extra))
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        try
        {
            await process.StandardInput.WriteLineAsync("daemon-test-token-0123456789");
            await process.StandardInput.FlushAsync();
            var error = process.StandardError.ReadToEndAsync();
            var output = process.StandardOutput.ReadToEndAsync();
            using var safety = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync(safety.Token);
            return (process.ExitCode, await output, await error);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }
}
