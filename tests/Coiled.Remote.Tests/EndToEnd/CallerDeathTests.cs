using System.Diagnostics;
using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>Workers never outlive their caller: a real caller process is killed with SIGKILL.</summary>
public sealed class CallerDeathTests
{
    [Fact]
    public async Task CallerKilledWithSigkill_LocalWorkersExitWithinFiveSeconds()
    {
        using var cache = new TempDirectory();
        var caller = StartCaller(2, cache.Path);
        try
        {
            var pids = await ReadWorkerPidsAsync(caller);
            pids.Should().HaveCount(2).And.OnlyContain(pid => ProcessAssert.IsRunning(pid));

            caller.Kill();
            await caller.WaitForExitAsync();

            await ProcessAssert.AllExitAsync(pids, TimeSpan.FromSeconds(5));
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

    private static Process StartCaller(int workers, string cacheDirectory)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "coiled-remote-test-caller.dll"));
        start.ArgumentList.Add("start");
        start.ArgumentList.Add(workers.ToString(System.Globalization.CultureInfo.InvariantCulture));
        start.ArgumentList.Add(cacheDirectory);
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
