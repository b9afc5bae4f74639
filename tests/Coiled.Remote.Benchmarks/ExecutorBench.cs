using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Coiled.Remote.Benchmarks;

/// <summary>
/// Executor processes on one running worker daemon: a new environment (another build of the app) to its first result,
/// an executor's death to the next task, and the memory of the daemon and its executors over many builds.
/// </summary>
internal sealed class ExecutorBench(string cache, bool quick, Action<string, string, string> row, List<string> failures)
{
    /// <summary>The daemon ends an executor without a client after this long, so that the memory figures see them go.</summary>
    private static readonly TimeSpan ExecutorIdle = TimeSpan.FromMilliseconds(500);

    private const string Marker = "coiled-remote-build-marker.txt";

    private readonly JsonObject _json = [];

    public async Task RunAsync()
    {
        var token = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        var logs = new LogCapture();
        using var logging = logs.CreateFactory();
        var app = Path.Combine(cache, "bench-app");
        CopyApp(AppContext.BaseDirectory, app);
        var build = 0;
        ClusterOptions NewBuild()
        {
            // Another build of the same code: one file differs, so the manifest and the environment id do.
            File.WriteAllText(Path.Combine(app, Marker), $"build {build++}");
            return new ClusterOptions { ApplicationDirectory = app, MaxWorkerDeaths = 1 };
        }

        // New builds and deaths on a daemon with the default executor idle timeout, as a developer's loop meets it.
        await using (var backend = new LocalProcessBackend { CacheDirectory = cache, SlotsPerWorker = 2 })
        {
            var addresses = await StartDaemonAsync(backend, token, logging);
            await StartAsync(addresses, token, NewBuild);
            await DeathAsync(addresses, token, NewBuild());
        }

        // Memory across many builds on one whose executors and spares end soon after their client, so that ended builds leave at once.
        await using (var backend = new LocalProcessBackend { CacheDirectory = cache, SlotsPerWorker = 2, ExecutorIdleTimeout = ExecutorIdle, SpareTimeout = ExecutorIdle })
        {
            var addresses = await StartDaemonAsync(backend, token, logging);
            await MemoryAsync(addresses, token, backend.ProcessIds[0], NewBuild);
        }
    }

    private static async Task<List<Uri>> StartDaemonAsync(LocalProcessBackend backend, string token, Microsoft.Extensions.Logging.ILoggerFactory logging)
    {
        var endpoints = await backend.StartWorkersAsync(
            new WorkerLaunch(1, token, TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(10), logging), CancellationToken.None);
        return [.. endpoints.Select(e => e.Address)];
    }

    public void WriteJson(JsonObject json) => json["executor"] = _json.DeepClone();

    /// <summary>
    /// New builds on the running daemon, each to its first result (ConnectAsync, one small file uploaded, and the first
    /// SubmitAsync), against the same build with its executor running: first a second apart, as an edit–run loop brings
    /// them at the fastest (building takes longer), then back to back.
    /// </summary>
    private async Task StartAsync(List<Uri> addresses, string token, Func<ClusterOptions> newBuild)
    {
        // The first connection warms the daemon's and this process's RPC paths.
        await using (var warm = await Cluster.ConnectAsync(addresses, token, newBuild()))
        {
            await warm.SubmitAsync(Jobs.Noop, 0);
        }

        var count = quick ? 5 : 11;
        var (loop, loopConnect, running) = await NewBuildsAsync(addresses, token, newBuild, count, TimeSpan.FromSeconds(1));
        var (backToBack, backToBackConnect, _) = await NewBuildsAsync(addresses, token, newBuild, count, TimeSpan.Zero);

        var loopMs = Stats.Median(loop);
        var runningMs = Stats.Median(running);
        _json["executor_start_ms"] = Math.Round(loopMs, 1);
        _json["executor_start_first_ms"] = Math.Round(loop[0], 1);
        _json["executor_start_back_to_back_ms"] = Math.Round(Stats.Median(backToBack), 1);
        _json["first_result_executor_running_ms"] = Math.Round(runningMs, 1);
        row("executor", $"new build on a running daemon to its first result, builds 1 s apart: ConnectAsync (1 file uploaded) + first SubmitAsync (median of {loop.Count})",
            $"{loopMs:F0} ms ({Stats.Median(loopConnect):F0} ms of it in ConnectAsync); the first of them: {loop[0]:F0} ms");
        row("executor", "  the same, builds back to back", $"{Stats.Median(backToBack):F0} ms ({Stats.Median(backToBackConnect):F0} ms of it in ConnectAsync)");
        row("executor", "  the same build again, its executor already running", $"{runningMs:F0} ms (the executor's start adds {loopMs - runningMs:F0} ms)");
    }

    /// <summary>
    /// <paramref name="count"/> new builds, <paramref name="apart"/> from one another: each one's time to its first result
    /// and the share of it in ConnectAsync, and then the same build's again while its executor runs.
    /// </summary>
    private static async Task<(List<double> Fresh, List<double> Connect, List<double> Running)> NewBuildsAsync(
        List<Uri> addresses, string token, Func<ClusterOptions> newBuild, int count, TimeSpan apart)
    {
        var fresh = new List<double>();
        var connect = new List<double>();
        var running = new List<double>();
        for (var i = 0; i < count; i++)
        {
            await Task.Delay(apart);

            // The daemon starts a spare executor when the new build's sync is planned, and binds it when the build opens;
            // from the second new build on, it starts the next spare as soon as one is taken.
            var options = newBuild();
            var clock = Stopwatch.StartNew();
            await using var cluster = await Cluster.ConnectAsync(addresses, token, options);
            connect.Add(clock.Elapsed.TotalMilliseconds);
            await cluster.SubmitAsync(Jobs.Noop, i);
            fresh.Add(clock.Elapsed.TotalMilliseconds);

            // The same build again while its executor runs: what the executor's start adds is the difference.
            clock.Restart();
            await using var again = await Cluster.ConnectAsync(addresses, token, options);
            await again.SubmitAsync(Jobs.Noop, i);
            running.Add(clock.Elapsed.TotalMilliseconds);
        }

        return (fresh, connect, running);
    }

    /// <summary>A task that calls Environment.Exit: from its executor's death to the next task running on the same worker.</summary>
    private async Task DeathAsync(List<Uri> addresses, string token, ClusterOptions options)
    {
        await using var cluster = await Cluster.ConnectAsync(addresses, token, options);
        var stamp = Path.Combine(cache, "death-stamp");
        var toFailure = new List<double>();
        var toNext = new List<double>();
        var worker = cluster.Workers.Single().Id;
        for (var i = 0; i < (quick ? 3 : 7); i++)
        {
            await cluster.SubmitAsync(Jobs.Noop, i);
            try
            {
                await cluster.SubmitAsync(Jobs.ExitWithTimestamp, stamp);
                throw new InvalidOperationException("A task that calls Environment.Exit returned.");
            }
            catch (WorkerLostException)
            {
                // MaxWorkerDeaths = 1: the task fails at its first death.
            }

            var failed = Stopwatch.GetTimestamp();
            var next = await cluster.SubmitAsync(Jobs.Timestamp, i);
            var died = long.Parse(await File.ReadAllTextAsync(stamp), CultureInfo.InvariantCulture);
            toFailure.Add(Stopwatch.GetElapsedTime(died, failed).TotalMilliseconds);
            toNext.Add(Stopwatch.GetElapsedTime(died, next).TotalMilliseconds);
        }

        if (cluster.Workers.Single() is { State: WorkerState.Ready } same && same.Id == worker)
        {
            // The same worker serves on.
        }
        else
        {
            failures.Add("an executor's death cost the worker");
        }

        var nextMs = Stats.Median(toNext);
        _json["death_to_next_task_ms"] = Math.Round(nextMs, 1);
        _json["death_to_failure_ms"] = Math.Round(Stats.Median(toFailure), 1);
        row("executor", $"executor death (Environment.Exit) to the next task running on the same worker (median of {toNext.Count})",
            $"{nextMs:F0} ms (the caller saw the failure after {Stats.Median(toFailure):F0} ms)");
    }

    /// <summary>
    /// Many builds into one daemon, each holding 20 MB in a static field: once the executors of builds without a client
    /// are ended, the daemon weighs what it did after the first.
    /// </summary>
    private async Task MemoryAsync(List<Uri> addresses, string token, int daemon, Func<ClusterOptions> newBuild)
    {
        var builds = quick ? 20 : 50;
        double? first = null;
        var peak = 0.0;
        var clock = Stopwatch.StartNew();
        var executor = 0;
        for (var i = 0; i < builds; i++)
        {
            await using (var cluster = await Cluster.ConnectAsync(addresses, token, newBuild()))
            {
                executor = await cluster.SubmitAsync(Jobs.Hold, 20_000_000);
                peak = Math.Max(peak, Total(daemon));
            }

            if (i == 0)
            {
                first = await SettledAsync(daemon, executor);
            }
        }

        var last = await SettledAsync(daemon, executor);
        row("executor", $"daemon + live executors' RSS after the first and the last of {builds} builds, each holding 20 MB ({clock.Elapsed.TotalSeconds:F0} s)",
            $"{first:F0} MiB → {last:F0} MiB ({last - first:+0;-0} MiB; at most {peak:F0} MiB while a build ran)");
        _json["memory_builds"] = builds;
        _json["memory_after_first_mb"] = Math.Round(first!.Value, 1);
        _json["memory_after_last_mb"] = Math.Round(last, 1);
        if (last - first > 150)
        {
            failures.Add($"the daemon and its executors grew by {last - first:F0} MiB over {builds} builds");
        }
    }

    /// <summary>
    /// The daemon's RSS and its executors', once the executor of the last build ended for want of a client (and with it
    /// every executor: no spare stays when a build took it).
    /// </summary>
    private static async Task<double> SettledAsync(int daemon, int executor)
    {
        var deadline = Stopwatch.StartNew();
        while (Rss.Children(daemon).Count > 0)
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException($"The daemon's executor {executor} did not end within 30 s of its last client: it still has {string.Join(", ", Rss.Children(daemon))}.");
            }

            await Task.Delay(50);
        }

        return Total(daemon);
    }

    private static double Total(int daemon) => Rss.WithChildrenMiB(daemon);

    /// <summary>Copies the app at <paramref name="from"/> to <paramref name="to"/>, without the worker daemon next to it.</summary>
    internal static void CopyApp(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(from, file);
            if (relative.StartsWith("coiled-remote-worker" + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                continue;
            }

            var target = Path.Combine(to, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
        }
    }
}
