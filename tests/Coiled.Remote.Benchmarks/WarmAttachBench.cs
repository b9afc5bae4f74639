using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Coiled.Remote.KeptClusters;

namespace Coiled.Remote.Benchmarks;

/// <summary>
/// The edit–run loop on a kept named cluster of two local workers: each run is a new process, as a rebuilt application
/// is, from <c>Cluster.StartAsync</c> to its first result. The first run starts the cluster (cold); then runs of the
/// same build attach (unchanged), and runs after a one-file rebuild attach and synchronize that file (changed).
/// </summary>
internal sealed class WarmAttachBench(string cache, bool quick, Action<string, string, string> row, List<string> failures)
{
    public const string Mode = "--warm-attach-child";

    private const string Name = "bench-edit-run-loop";
    private const string Marker = "coiled-remote-build-marker.txt";

    private double? _coldMs;
    private double? _unchangedMs;
    private double? _changedMs;
    private double? _inProcessMs;
    private double? _inProcessChangedMs;
    private double? _grpcFloorMs;
    private double? _tcpFloorMs;

    public async Task RunAsync()
    {
        var folder = Path.Combine(cache, "warm-attach");
        var app = Path.Combine(folder, "app");
        var workers = Path.Combine(folder, "workers");
        Directory.CreateDirectory(workers);
        ExecutorBench.CopyApp(AppContext.BaseDirectory, app);
        File.WriteAllText(Path.Combine(app, Marker), "build 0");
        try
        {
            var (coldMs, coldBytes) = await RunChildAsync(workers, app);
            _coldMs = coldMs;
            row("warm", "edit-run loop, new process: first run starts a named cluster of 2 workers (cold)", $"{coldMs:F0} ms to the first result, {coldBytes:N0} bytes synchronized");

            var runs = quick ? 3 : 7;
            var unchanged = new List<double>();
            for (var i = 0; i < runs; i++)
            {
                var (ms, bytes) = await RunChildAsync(workers, app);
                unchanged.Add(ms);
                Console.WriteLine($"   unchanged {i + 1}: {ms,6:F1} ms, {bytes:N0} bytes");
            }

            var changed = new List<double>();
            for (var i = 0; i < runs; i++)
            {
                File.WriteAllText(Path.Combine(app, Marker), $"build {i + 1}");
                var (ms, bytes) = await RunChildAsync(workers, app);
                changed.Add(ms);
                Console.WriteLine($"   changed {i + 1}:   {ms,6:F1} ms, {bytes:N0} bytes");
            }

            var inProcess = new List<double>();
            var inProcessChanged = new List<double>();
            for (var i = 0; i < runs; i++)
            {
                var (_, againMs, againChangedMs) = await RunChildAsync(workers, app, again: true);
                inProcess.Add(againMs!.Value);
                inProcessChanged.Add(againChangedMs!.Value);
            }

            _inProcessMs = Stats.Median(inProcess);
            _inProcessChangedMs = Stats.Median(inProcessChanged);
            row("warm", $"  attach again in the same process, nothing changed (no first-use costs; median of {runs})", $"{_inProcessMs:F1} ms");
            row("warm", $"  attach again in the same process after a one-file change (median of {runs})", $"{_inProcessChangedMs:F1} ms");
            await MeasureFloorsAsync(workers, runs);
            _unchangedMs = Stats.Median(unchanged);
            _changedMs = Stats.Median(changed);
            row("warm", $"  attach, nothing changed: StartAsync to first result (median of {runs})", $"{_unchangedMs:F1} ms");
            row("warm", $"  attach after a one-file rebuild: StartAsync to first result (median of {runs})", $"{_changedMs:F1} ms");
        }
        catch (Exception ex)
        {
            failures.Add($"warm attach: {ex.Message}");
        }
        finally
        {
            try
            {
                await NamedClusters.StopAsync(NamedClusters.LocalRegistry(workers), workers, Name, null, CancellationToken.None);
            }
            catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException)
            {
                // Never started, or already gone.
            }
        }
    }

    public void WriteJson(JsonObject json)
    {
        json["warm_attach_changed_ms"] = _changedMs is { } changed ? Math.Round(changed, 1) : null;
        json["warm_attach_unchanged_ms"] = _unchangedMs is { } unchanged ? Math.Round(unchanged, 1) : null;
        json["warm_cold_start_ms"] = _coldMs is { } cold ? Math.Round(cold, 1) : null;
        json["warm_attach_in_process_ms"] = _inProcessMs is { } inProcess ? Math.Round(inProcess, 1) : null;
        json["warm_attach_in_process_changed_ms"] = _inProcessChangedMs is { } inProcessChanged ? Math.Round(inProcessChanged, 1) : null;
        json["new_process_grpc_first_call_ms"] = _grpcFloorMs is { } grpc ? Math.Round(grpc, 1) : null;
        json["new_process_tcp_connect_ms"] = _tcpFloorMs is { } tcp ? Math.Round(tcp, 1) : null;
    }

    /// <summary>
    /// In the child: starts (or attaches to) the named cluster, runs one task, prints "attach MS BYTES", and lets go of
    /// the cluster (kept). With a fourth argument "again", it then attaches once more in the same process and prints
    /// "again MS": the same attach without the new process's first-use costs (JIT, type loading); then it changes the
    /// app's marker file, attaches once more and prints "changed MS".
    /// </summary>
    public static async Task<int> ChildAsync(IReadOnlyList<string> args)
    {
        var clock = Stopwatch.StartNew();
        var cluster = await Cluster.StartAsync(Options(args));
        await cluster.SubmitAsync(Jobs.Noop, 1);
        var elapsed = clock.Elapsed;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"attach {elapsed.TotalMilliseconds:F1} {cluster.Summary.SyncBytes}"));
        await cluster.DisposeAsync();
        if (args.Count > 3 && args[3] == "again")
        {
            var again = Stopwatch.StartNew();
            await using var second = await Cluster.StartAsync(Options(args));
            await second.SubmitAsync(Jobs.Noop, 2);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"again {again.Elapsed.TotalMilliseconds:F1}"));
            await second.DisposeAsync();

            File.WriteAllText(Path.Combine(args[2], Marker), $"changed in process {Environment.ProcessId}");
            var changed = Stopwatch.StartNew();
            await using var third = await Cluster.StartAsync(Options(args));
            await third.SubmitAsync(Jobs.Noop, 3);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"changed {changed.Elapsed.TotalMilliseconds:F1} {third.Summary.SyncBytes}"));
        }

        return 0;
    }

    private static ClusterOptions Options(IReadOnlyList<string> args) => new()
    {
        Name = Name,
        Workers = 2,
        KeepAlive = TimeSpan.FromMinutes(10),
        Backend = new LocalProcessBackend { CacheDirectory = args[1] },
        ApplicationDirectory = args[2],
    };

    private static async Task<(double Ms, long Bytes)> RunChildAsync(string workers, string app)
        => (await RunChildAsync(workers, app, again: false)).First;

    /// <summary>The floors under a new process's attach, against the kept cluster's first worker: one gRPC call, one TCP connection.</summary>
    private async Task MeasureFloorsAsync(string workers, int runs)
    {
        var registered = NamedClusters.LocalRegistry(workers).Read(Name)
            ?? throw new InvalidOperationException($"The kept cluster {Name} is not in the registry at {workers}.");
        var worker = registered.Workers[0].Address;
        var grpc = new List<double>();
        var tcp = new List<double>();
        for (var i = 0; i < runs; i++)
        {
            grpc.Add(await TransportFloorChild.MeasureAsync("grpc", worker, registered.Token));
            tcp.Add(await TransportFloorChild.MeasureAsync("tcp", worker, registered.Token));
        }

        _grpcFloorMs = Stats.Median(grpc);
        _tcpFloorMs = Stats.Median(tcp);
        row("warm", $"  floor: a new process's first gRPC call to a worker, nothing else (Grpc.Net.Client; median of {runs})", $"{_grpcFloorMs:F1} ms");
        row("warm", $"  floor: a new process's first TCP connection to a worker (median of {runs})", $"{_tcpFloorMs:F1} ms");
    }

    private static async Task<((double Ms, long Bytes) First, double? AgainMs, double? ChangedMs)> RunChildAsync(string workers, string app, bool again)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (!Environment.ProcessPath!.EndsWith(Path.DirectorySeparatorChar + "Coiled.Remote.Benchmarks", StringComparison.Ordinal))
        {
            start.ArgumentList.Add(typeof(WarmAttachBench).Assembly.Location);
        }

        foreach (var argument in again ? new[] { Mode, workers, app, "again" } : [Mode, workers, app])
        {
            start.ArgumentList.Add(argument);
        }

        using var child = Process.Start(start)!;
        var output = child.StandardOutput.ReadToEndAsync();
        var error = child.StandardError.ReadToEndAsync();
        await child.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        var lines = (await output).Split('\n').Select(l => l.Trim()).ToList();
        var parts = lines.LastOrDefault(l => l.StartsWith("attach ", StringComparison.Ordinal))?.Split(' ');
        var againParts = lines.LastOrDefault(l => l.StartsWith("again ", StringComparison.Ordinal))?.Split(' ');
        var changedParts = lines.LastOrDefault(l => l.StartsWith("changed ", StringComparison.Ordinal))?.Split(' ');
        if (child.ExitCode != 0 || parts is not { Length: 3 } || (again && (againParts is not { Length: 2 } || changedParts is not { Length: 3 } || changedParts[2] == "0")))
        {
            throw new InvalidOperationException($"The warm-attach child exited with {child.ExitCode}: {await output} {await error}");
        }

        return ((double.Parse(parts[1], CultureInfo.InvariantCulture), long.Parse(parts[2], CultureInfo.InvariantCulture)),
            againParts is null ? null : double.Parse(againParts[1], CultureInfo.InvariantCulture),
            changedParts is null ? null : double.Parse(changedParts[1], CultureInfo.InvariantCulture));
    }
}
