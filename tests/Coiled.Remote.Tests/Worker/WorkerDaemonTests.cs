using System.Diagnostics;
using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Tests.Worker;

/// <summary>The coiled-remote-worker process itself: its command line and the timeouts that stop it.</summary>
public sealed class WorkerDaemonTests
{
    [Fact]
    public async Task Daemon_NoClientEverConnects_ExitsAfterItsNoClientTimeout()
    {
        var (exitCode, output, _) = await RunDaemonAsync("--no-client-timeout", "1", "--idle-timeout", "0");

        exitCode.Should().Be(0);
        StoppedAfterSeconds(output, "no client connected for (\\d+) s \\(no-client timeout 1 s\\)").Should().BeGreaterThanOrEqualTo(1, "the worker waits out its timeout");
    }

    [Fact]
    public async Task Daemon_NoWork_ExitsAfterItsIdleTimeout()
    {
        var (exitCode, output, _) = await RunDaemonAsync("--idle-timeout", "1", "--no-client-timeout", "0");

        exitCode.Should().Be(0);
        StoppedAfterSeconds(output, "no work for (\\d+) s \\(idle timeout 1 s\\)").Should().BeGreaterThanOrEqualTo(1, "the worker waits out its timeout");
    }

    [UnixFact]
    public async Task Daemon_Sigterm_StopsAndExitsWithZero()
    {
        var (exitCode, output, _) = await RunDaemonAsync(
            async process =>
            {
                using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", process.Id.ToString()]) { UseShellExecute = false })!;
                await kill.WaitForExitAsync();
            },
            "--idle-timeout", "0", "--no-client-timeout", "0");

        exitCode.Should().Be(0);
        output.Should().Contain("stopped: the process was asked to stop (SIGTERM or Ctrl+C)");
    }

    [UnixFact]
    public async Task Daemon_IgnoreInterrupt_RunsOnThroughSighupSigintAndSigquitAndStopsOnSigterm()
    {
        var (exitCode, output, _) = await RunDaemonAsync(
            async process =>
            {
                // Sent one after another, each delivered before the next: a daemon that any of them ended would exit
                // with 128 + its number and never print its stop line.
                foreach (var signal in new[] { "-HUP", "-INT", "-QUIT", "-TERM" })
                {
                    using var kill = Process.Start(new ProcessStartInfo("kill", [signal, process.Id.ToString()]) { UseShellExecute = false })!;
                    await kill.WaitForExitAsync();
                }
            },
            "--ignore-interrupt", "--idle-timeout", "0", "--no-client-timeout", "0");

        exitCode.Should().Be(0);
        output.Should().Contain("stopped: the process was asked to stop (SIGTERM)").And.NotContain("Ctrl+C");
    }

    [Fact]
    public async Task Daemon_UnknownOption_ExitsWithUsage()
    {
        var (exitCode, _, error) = await RunDaemonAsync("--frobnicate");

        exitCode.Should().Be(2);
        error.Should().Contain("coiled-remote-worker: Unknown option '--frobnicate'.").And.Contain("usage: coiled-remote-worker");
    }

    [Fact]
    public async Task Daemon_WithCertificate_ConnectAsyncPinsItsThumbprintRunsAMapAndLeavesItRunning()
    {
        using var folder = new Support.TempDirectory();
        using var certificate = Coiled.Remote.Security.ClusterCertificate.Create("daemon-test", TimeSpan.FromHours(1));
        var pfx = Path.Combine(folder.Path, "worker.pfx");
        var token = Path.Combine(folder.Path, "token");
        await File.WriteAllBytesAsync(pfx, certificate.ExportPfx());
        await File.WriteAllTextAsync(token, "tls-daemon-token-0123456789");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(token, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { Path.Combine(AppContext.BaseDirectory, "coiled-remote-worker.dll"), "--listen", "127.0.0.1:0", "--token-file", token, "--cert", pfx, "--exit-with-stdin", "--cache-dir", folder.Path })
        {
            start.ArgumentList.Add(argument);
        }

        using var daemon = Process.Start(start)!;
        try
        {
            using var safety = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            var listening = await daemon.StandardOutput.ReadLineAsync(safety.Token);
            var pinned = await daemon.StandardOutput.ReadLineAsync(safety.Token);
            listening.Should().StartWith("coiled-remote-worker listening on https://127.0.0.1:");
            pinned.Should().Be($"coiled-remote-worker certificate sha256 {certificate.Thumbprint}");
            var endpoint = new WorkerEndpoint(new Uri(listening!["coiled-remote-worker listening on ".Length..])) { CertificateThumbprint = certificate.Thumbprint };

            await using (var cluster = await Cluster.ConnectAsync([endpoint], "tls-daemon-token-0123456789"))
            {
                (await cluster.MapAsync(Support.TestJobs.Square, [2.0, 3.0]).WaitAsync(TimeSpan.FromMinutes(2))).Should().Equal(4.0, 9.0);
            }

            daemon.HasExited.Should().BeFalse("disposing a cluster from ConnectAsync leaves hand-started workers running");
        }
        finally
        {
            daemon.Kill(entireProcessTree: true);
            await daemon.WaitForExitAsync();
        }
    }

    /// <summary>
    /// The seconds in the daemon's "stopped: ..." line. Its watchdog looks every quarter second, so on a busy machine it
    /// may notice later than the timeout: the line's shape is exact, the seconds only have a lower bound.
    /// </summary>
    private static int StoppedAfterSeconds(string output, string reason)
    {
        var stopped = System.Text.RegularExpressions.Regex.Match(output, "stopped: " + reason);
        stopped.Success.Should().BeTrue($"the daemon says why it stopped, as 'stopped: {reason}'; it printed: {output}");
        return int.Parse(stopped.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    private static Task<(int ExitCode, string Output, string Error)> RunDaemonAsync(params string[] extra)
        => RunDaemonAsync(null, extra);

    /// <summary>Runs the daemon until it exits; <paramref name="whenListening"/>, if given, runs once it listens.</summary>
    private static async Task<(int ExitCode, string Output, string Error)> RunDaemonAsync(Func<Process, Task>? whenListening, params string[] extra)
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
            using var safety = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var first = string.Empty;
            if (whenListening is not null)
            {
                first = await process.StandardOutput.ReadLineAsync(safety.Token) + Environment.NewLine;
                first.Should().StartWith("coiled-remote-worker listening on ");
                await whenListening(process);
            }

            var output = process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync(safety.Token);
            return (process.ExitCode, first + await output, await error);
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
