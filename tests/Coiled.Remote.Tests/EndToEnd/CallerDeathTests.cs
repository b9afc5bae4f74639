using System.Diagnostics;
using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>Workers never outlive their caller (a real caller process is killed with SIGKILL), and never keep it alive.</summary>
public sealed class CallerDeathTests
{
    [Fact]
    public async Task CallerKilledWithSigkill_LocalWorkersExitLongBeforeTheirTimeouts()
    {
        // The workers' no-client timeout (10 min) and idle timeout (20 min) are far beyond the safety net below: only
        // their standard input closing with the caller's death can stop them in time.
        using var cache = new TempDirectory();
        var caller = StartCaller(2, cache.Path, noClientTimeoutSeconds: 600);
        try
        {
            var pids = await ReadWorkerPidsAsync(caller);
            pids.Should().HaveCount(2).And.OnlyContain(pid => ProcessAssert.IsRunning(pid));

            caller.Kill();
            await caller.WaitForExitAsync();

            await ProcessAssert.AllExitAsync(pids, TimeSpan.FromMinutes(2));
        }
        finally
        {
            if (!caller.HasExited)
            {
                caller.Kill(entireProcessTree: true);
            }

            caller.Dispose();
        }
    }

    [UnixFact]
    public async Task CallerWithInProcessWorkers_Sigterm_EndsTheCallerAsWithoutACluster()
    {
        // An in-process worker must not take over the application's SIGTERM and Ctrl+C handling. (The runtime ends
        // the process at once, as SIGKILL would: whatever it leaves in TMPDIR goes with the test's folder.)
        using var temp = new TempDirectory();
        using var caller = Start(new Dictionary<string, string> { ["TMPDIR"] = temp.Path }, "in-process");
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            (await caller.StandardOutput.ReadLineAsync(timeout.Token)).Should().Be("ready 7");

            using (var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", caller.Id.ToString()]) { UseShellExecute = false })!)
            {
                await kill.WaitForExitAsync();
            }

            await caller.WaitForExitAsync(timeout.Token);
            caller.ExitCode.Should().Be(143, "the runtime ends a process on SIGTERM with 128 + 15 when the application does not handle it");
        }
        finally
        {
            if (!caller.HasExited)
            {
                caller.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task CallerWithInProcessWorkers_ExitsWithoutDisposingItsCluster_LeavesNoScratchFolder()
    {
        using var temp = new TempDirectory();
        using var caller = Start(new Dictionary<string, string> { ["TMPDIR"] = temp.Path, ["DOTNET_EnableDiagnostics"] = "0" }, "in-process-exit");
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));

        (await caller.StandardOutput.ReadLineAsync(timeout.Token)).Should().Be("ready 7");
        await caller.WaitForExitAsync(timeout.Token);

        caller.ExitCode.Should().Be(0, await caller.StandardError.ReadToEndAsync());
        Directory.GetFileSystemEntries(temp.Path).Should().BeEmpty("the in-process workers' scratch folder goes when the process exits");
    }

    private static Process StartCaller(int workers, string cacheDirectory, int noClientTimeoutSeconds)
        => Start(
            new Dictionary<string, string>(), "start", workers.ToString(System.Globalization.CultureInfo.InvariantCulture), cacheDirectory,
            noClientTimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));

    private static Process Start(Dictionary<string, string> environment, params string[] arguments)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "coiled-remote-test-caller.dll"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return Process.Start(start)!;
    }

    private static async Task<IReadOnlyList<int>> ReadWorkerPidsAsync(Process caller)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        while (await caller.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("workers ", StringComparison.Ordinal))
            {
                return [.. line["workers ".Length..].Split(' ').Select(int.Parse)];
            }
        }

        throw new InvalidOperationException($"The caller exited before starting its cluster: {await caller.StandardError.ReadToEndAsync()}");
    }
}
