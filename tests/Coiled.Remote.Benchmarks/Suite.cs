using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Coiled.Remote.Benchmarks;

/// <summary>Runs every benchmark against 2-worker local clusters (and 1 to 16 workers for scaling) and keeps the figures.</summary>
internal sealed class Suite(bool quick, IReadOnlySet<string> only)
{
    /// <summary>The figures <c>--only</c> can select, in the order they run.</summary>
    public static readonly string[] Sections = ["start", "resync", "memory", "latency", "throughput", "payload", "montecarlo", "stream", "scaling", "broadcast", "dashboard", "warm", "load", "executor", "ec2sim"];

    private const int Workers = 2;
    private const double MB = 1_000_000;

    private readonly string _cache = Path.Combine(Path.GetTempPath(), $"coiled-remote-bench-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
    private readonly List<(string Section, string What, string Value)> _rows = [];
    private readonly List<string> _failures = [];

    private double? _startMs;
    private double? _coldStartMs;
    private double? _warmSyncMs;
    private long? _warmSyncBytes;
    private double? _p50;
    private double? _p99;
    private readonly SortedDictionary<long, double> _throughput = [];
    private readonly SortedDictionary<int, double> _payload = [];
    private readonly SortedDictionary<int, double> _results = [];
    private double? _payload1MbMs;
    private double? _idleRssMb;
    private double? _speedup;
    private JsonObject? _streamGrowth;
    private double? _broadcastMs;
    private double? _broadcastArgumentMb;
    private readonly JsonObject _extra = [];
    private LoadTest? _load;
    private ExecutorBench? _executors;
    private DashboardBench? _dashboard;
    private WarmAttachBench? _warm;
    private Ec2SimBench? _ec2;

    public async Task<bool> RunAsync()
    {
        Console.WriteLine($"Coiled.Remote benchmarks ({(quick ? "quick" : "full")}): {Environment.ProcessorCount} processors, .NET {Environment.Version}, cache {_cache}");
        var total = Stopwatch.StartNew();
        try
        {
            await Phase("start", "cluster start", StartsAsync);
            await Phase("resync", "warm re-sync", WarmResyncAsync);
            if (Sections[2..8].Any(Selected))
            {
                await Phase(null, "2-worker cluster", MainClusterAsync);
            }

            await Phase("scaling", "scaling", ScalingAsync);
            await Phase("broadcast", "broadcast: one 10 MB array in every item", BroadcastAsync);
            _dashboard = new DashboardBench(_cache, quick, Row);
            await Phase("dashboard", "dashboard on against off", _dashboard.RunAsync);
            _warm = new WarmAttachBench(_cache, quick, Row, _failures);
            await Phase("warm", "edit-run loop: a kept named cluster, each run a new process", _warm.RunAsync);
            if (Selected("load") && (!quick || only.Contains("load")))
            {
                _load = new LoadTest(_cache, Row, _failures);
                await Phase("load", "load: 16 workers on busy cores, large heaps", _load.RunAsync);
            }

            _executors = new ExecutorBench(_cache, quick, Row, _failures);
            await Phase("executor", "executors: new builds, deaths and memory on one running daemon", _executors.RunAsync);
            _ec2 = new Ec2SimBench(_cache, Row, _failures);
            await Phase("ec2sim", "simulated EC2 start, 16 workers", _ec2.RunAsync);
        }
        finally
        {
            try
            {
                if (Directory.Exists(_cache))
                {
                    Directory.Delete(_cache, recursive: true);
                }
            }
            catch (IOException ex)
            {
                Console.Error.WriteLine($"Could not delete {_cache}: {ex.Message}");
            }
        }

        Console.WriteLine($"Done in {total.Elapsed.TotalSeconds:F1} s.");
        _extra["total_s"] = Math.Round(total.Elapsed.TotalSeconds, 1);
        return _failures.Count == 0;
    }

    private bool Selected(string section) => only.Count == 0 || only.Contains(section);

    private async Task Phase(string? section, string name, Func<Task> body)
    {
        if (section is not null && !Selected(section))
        {
            return;
        }

        Console.WriteLine($"-- {name}");
        try
        {
            await body();
        }
        catch (Exception ex)
        {
            _failures.Add($"{name}: {ex.GetType().Name}: {ex.Message}");
            Console.Error.WriteLine($"FAILED {name}: {ex}");
        }
    }

    private (ClusterOptions Options, LocalProcessBackend Backend) Options(int workers)
    {
        var backend = new LocalProcessBackend { CacheDirectory = _cache };
        return (new ClusterOptions { Workers = workers, Backend = backend }, backend);
    }

    // ---- cluster start and warm re-sync -------------------------------------------------------------------

    private async Task StartsAsync()
    {
        var count = quick ? 3 : 5;
        var times = new List<double>();
        var warm = new List<double>();
        for (var i = 0; i < count; i++)
        {
            var (options, _) = Options(Workers);
            var phases = new List<string>();
            var clock = Stopwatch.StartNew();
            options = options with { Progress = new Inline<ClusterProgress>(p => phases.Add($"{p.Phase} at {clock.Elapsed.TotalMilliseconds:F0}")) };
            var cluster = await Cluster.StartAsync(options);
            var ms = clock.Elapsed.TotalMilliseconds;
            var sync = cluster.LastSync;
            clock.Restart();
            await cluster.DisposeAsync();
            var disposeMs = clock.Elapsed.TotalMilliseconds;
            times.Add(ms);
            Console.WriteLine($"   start {i + 1}: {ms,7:F0} ms ({string.Join(", ", phases)} ms), synchronized {sync.BlobsSent} of {sync.ManifestFiles} file(s), {sync.BytesSent:N0} bytes; dispose {disposeMs:F0} ms");
            if (i == 0)
            {
                _coldStartMs = ms;
            }
            else
            {
                _warmSyncBytes = Math.Max(_warmSyncBytes ?? 0, sync.BytesSent);
                if (sync.BytesSent == 0)
                {
                    // The re-sync itself: manifest compared, nothing uploaded, environments opened.
                    warm.Add(sync.Elapsed.TotalMilliseconds);
                }
            }
        }

        _startMs = Stats.Median(times);
        Row("start", $"cluster start, {Workers} workers (median of {count}; first cold)", $"{_startMs:F0} ms");
        Row("start", "  first start (empty cache)", $"{_coldStartMs:F0} ms");
        if (warm.Count > 0)
        {
            var startSyncMs = Stats.Median(warm);
            _extra["start_sync_phase_ms"] = Math.Round(startSyncMs, 1);
            Row("start", $"  sync phase of a start with 0 bytes sent, fresh worker processes (median of {warm.Count})", $"{startSyncMs:F1} ms, {_warmSyncBytes} bytes");
        }
        else
        {
            Row("start", "warm re-sync", $"NO warm start sent 0 bytes (max {_warmSyncBytes:N0} bytes)");
            _failures.Add($"warm starts sent {_warmSyncBytes} bytes; expected 0");
        }
    }

    /// <summary>
    /// The re-sync of an unchanged application against workers that already have it: a client connects again to the
    /// same running workers, compares manifests (nothing to upload) and opens the environment.
    /// </summary>
    private async Task WarmResyncAsync()
    {
        var token = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        await using var backend = new LocalProcessBackend { CacheDirectory = _cache };
        var endpoints = await backend.StartWorkersAsync(
            new WorkerLaunch(Workers, token, TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(5), Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance),
            CancellationToken.None);
        var addresses = endpoints.Select(e => e.Address).ToList();
        var times = new List<double>();
        long bytes = 0;
        for (var i = 0; i < (quick ? 4 : 8); i++)
        {
            await using var cluster = await Cluster.ConnectAsync(addresses, token);
            if (i > 0)
            {
                // The first connection warms the workers' RPC paths; the rest are re-syncs of an unchanged app.
                times.Add(cluster.LastSync.Elapsed.TotalMilliseconds);
                bytes = Math.Max(bytes, cluster.LastSync.BytesSent);
            }
        }

        _warmSyncMs = Stats.Median(times);
        _warmSyncBytes = bytes;
        Row("start", $"warm re-sync of an unchanged app on running workers, same caller process, hashes cached (median of {times.Count})", $"{_warmSyncMs:F1} ms, {bytes} bytes");

        // A re-run app is a new process: it hashes its files again before the workers find they have them all.
        var children = new List<(double SyncMs, long Bytes, double ConnectMs)>();
        for (var i = 0; i < (quick ? 2 : 5); i++)
        {
            children.Add(await ResyncChild.MeasureAsync(token, addresses));
        }

        var childSync = Stats.Median([.. children.Select(c => c.SyncMs)]);
        var childConnect = Stats.Median([.. children.Select(c => c.ConnectMs)]);
        bytes = Math.Max(bytes, children.Max(c => c.Bytes));
        Row("start", $"warm re-sync from a new caller process of the same app (median of {children.Count})", $"{childSync:F1} ms sync, {childConnect:F0} ms whole ConnectAsync, {children.Max(c => c.Bytes)} bytes");
        _extra["warm_resync_new_process_ms"] = Math.Round(childSync, 1);
        _extra["warm_resync_new_process_connect_ms"] = Math.Round(childConnect, 1);
        if (bytes != 0)
        {
            _failures.Add($"a warm re-sync sent {bytes} bytes; expected 0");
        }
    }

    // ---- everything on one 2-worker cluster ----------------------------------------------------------------

    private async Task MainClusterAsync()
    {
        var (options, backend) = Options(Workers);
        await using var cluster = await Cluster.StartAsync(options);
        if (Selected("memory"))
        {
            _idleRssMb = await IdleRssAsync(cluster, backend, "before any payload work", "idle_rss");
        }

        if (Selected("latency"))
        {
            await LatencyAsync(cluster);
        }

        if (Selected("throughput"))
        {
            await ThroughputAsync(cluster);
            ManagedHeap("after the throughput runs");
        }

        if (Selected("payload"))
        {
            await PayloadAsync(cluster);
            ManagedHeap("after the payloads");
            await IdleRssAsync(cluster, backend, "after the payloads, whose buffers the pools keep for 30 to 60 s", "idle_rss_after_payloads");
        }

        if (Selected("montecarlo"))
        {
            await MonteCarloAsync(cluster);
        }

        if (Selected("stream"))
        {
            await StreamAsync(cluster);
        }
    }

    /// <summary>Resident memory of the caller and the workers 2 s after a small map; returns the total in MiB.</summary>
    private async Task<double> IdleRssAsync(Cluster cluster, LocalProcessBackend backend, string when, string key)
    {
        await cluster.MapAsync(Jobs.Noop, Enumerable.Range(0, 1000));
        await Task.Delay(quick ? 500 : 2000);
        GC.Collect();
        var pids = backend.ProcessIds;
        var fromWorkers = cluster.Workers.Select(w => w.ProcessId).Order().ToList();
        if (!pids.Order().SequenceEqual(fromWorkers))
        {
            Console.WriteLine($"   note: LocalProcessBackend.ProcessIds [{string.Join(", ", pids)}] differ from Cluster.Workers[].ProcessId [{string.Join(", ", fromWorkers)}]");
        }

        var caller = Rss.MiB(Environment.ProcessId);

        // A worker is its daemon and the executor processes it runs (the cluster's environment's, and a spare).
        var workers = pids.Select(Rss.WithChildrenMiB).ToList();
        var daemons = pids.Select(Rss.MiB).ToList();
        var total = caller + workers.Sum();
        var proportional = Rss.ProportionalMiB(Environment.ProcessId) + pids.Sum(Rss.ProportionalWithChildrenMiB);
        Row("memory", $"idle RSS {when}, caller + 2 workers (each its daemon and executors)",
            $"{total:F0} MiB (caller {caller:F0}, workers {string.Join(" + ", workers.Select(w => w.ToString("F0")))}, of which daemons {string.Join(" + ", daemons.Select(d => d.ToString("F0")))}); " +
            $"proportional set (PSS: shared code counted once) {proportional:F0} MiB");
        _extra[$"{key}_pss_mb"] = Math.Round(proportional, 1);
        _extra[$"{key}_caller_mb"] = Math.Round(caller, 1);
        _extra[$"{key}_workers_mb"] = new JsonArray([.. workers.Select(w => (JsonNode)Math.Round(w, 1))]);
        return total;
    }

    private async Task LatencyAsync(Cluster cluster)
    {
        var warmUp = TimeSpan.FromSeconds(quick ? 1 : 4);
        var clock = Stopwatch.StartNew();
        var warmCalls = 0;
        while (clock.Elapsed < warmUp)
        {
            await cluster.SubmitAsync(Jobs.Noop, warmCalls++);
        }

        var n = quick ? 2000 : 10000;
        var samples = new double[n];
        for (var i = 0; i < n; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await cluster.SubmitAsync(Jobs.Noop, i);
            samples[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }

        _p50 = Stats.Percentile(samples, 50);
        _p99 = Stats.Percentile(samples, 99);
        Row("latency", $"SubmitAsync round trip, no-op ({n:N0} sequential calls after {warmCalls:N0} warm-up)", $"p50 {_p50:F0} µs, p99 {_p99:F0} µs");
    }

    private async Task ThroughputAsync(Cluster cluster)
    {
        // Warm-up: JIT and the workers' adaptive windows.
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed < TimeSpan.FromSeconds(quick ? 1 : 4))
        {
            await cluster.MapAsync(Jobs.Noop, Enumerable.Range(0, 100_000));
        }

        long[] sizes = quick ? [1_000, 10_000, 100_000, 1_000_000] : [1_000, 10_000, 100_000, 1_000_000, 10_000_000];
        var perTask = new JsonObject();
        foreach (var n in sizes)
        {
            var reps = n switch { <= 10_000 => 7, <= 100_000 => quick ? 3 : 5, <= 1_000_000 => quick ? 1 : 3, _ => 1 };
            var times = new List<double>();
            for (var r = 0; r < reps; r++)
            {
                var clock = Stopwatch.StartNew();
                var results = await cluster.MapAsync(Jobs.Noop, Enumerable.Range(0, (int)n));
                times.Add(clock.Elapsed.TotalSeconds);
                if (results.Length != n || results[^1] != n - 1)
                {
                    throw new InvalidOperationException($"MapAsync of {n} items returned {results.Length} results, last {results[^1]}.");
                }
            }

            var seconds = Stats.Median(times);
            var rate = n / seconds;
            _throughput[n] = rate;
            perTask[n.ToString()] = Math.Round(seconds * 1e6 / n, 3);
            Row("throughput", $"MapAsync no-op, {n,10:N0} items (median of {reps})", $"{rate,12:N0} tasks/s, {seconds * 1e6 / n,8:F2} µs/task, {seconds * 1000,8:F0} ms");
        }

        _extra["time_per_task_us"] = perTask;
    }

    private async Task PayloadAsync(Cluster cluster)
    {
        // The argument figures measure moving the bytes: a cluster that shares would send the array passed on every call
        // once (the broadcast section measures that), so they run on one that does not.
        var (options, _) = Options(Workers);
        await using var unshared = await Cluster.StartAsync(options with { ShareRepeatedArguments = false });
        foreach (var mb in new[] { 1, 10, 100 })
        {
            var data = new byte[(int)(mb * MB)];
            Random.Shared.NextBytes(data);
            var seconds = await TransferAsync("argument (one array, sent on every call, sharing off)", mb, async () =>
            {
                var length = await unshared.SubmitAsync(Jobs.Length, data);
                return length == data.Length ? null : $"Length({data.Length:N0} bytes) answered {length:N0}.";
            });
            _payload[mb] = mb / seconds;
            if (mb == 1)
            {
                _payload1MbMs = seconds * 1000;
            }
        }

        foreach (var mb in new[] { 1, 10, 100 })
        {
            var length = (int)(mb * MB);
            _results[mb] = mb / await TransferAsync("result (a new array per call)", mb, async () =>
            {
                var back = await cluster.SubmitAsync(Jobs.Bytes, length);
                return back.Length == length && back[^1] == Jobs.LastByte(length)
                    ? null
                    : $"Bytes({length:N0}) answered {back.Length:N0} bytes ending in {(back.Length > 0 ? back[^1] : 0)}, not {Jobs.LastByte(length)}.";
            });
        }
    }

    /// <summary>
    /// Times one call that moves <paramref name="mb"/> MB (the median of several, after three warm-up calls so that both
    /// workers have their pooled buffers) and returns its seconds; <paramref name="call"/> checks what came back and
    /// answers an error or null, on every call, timed or not.
    /// </summary>
    private async Task<double> TransferAsync(string what, int mb, Func<Task<string?>> call)
    {
        var reps = mb switch { 1 => quick ? 10 : 30, 10 => quick ? 5 : 10, _ => quick ? 3 : 10 };
        for (var w = 0; w < 3; w++)
        {
            if (await call() is { } error)
            {
                throw new InvalidOperationException(error);
            }
        }

        var times = new List<double>();
        for (var r = 0; r < reps; r++)
        {
            var clock = Stopwatch.StartNew();
            var error = await call();
            times.Add(clock.Elapsed.TotalSeconds);
            if (error is not null)
            {
                throw new InvalidOperationException(error);
            }
        }

        var seconds = Stats.Median(times);
        Row("payload", $"byte[] {what}, {mb,3} MB (median of {reps})", $"{mb / seconds,8:F0} MB/s, {seconds * 1000,7:F1} ms per call ({times.Min() * 1000:F1}–{times.Max() * 1000:F1})");
        return seconds;
    }

    private async Task MonteCarloAsync(Cluster cluster)
    {
        // About 1.2 s per task serially in the full run, 0.6 s in the quick one (on a 2-core development machine).
        var darts = quick ? 45_000_000L : 100_000_000L;
        Darts.CountInside(0, 1_000_000); // JIT before timing

        var clock = Stopwatch.StartNew();
        var serial = Darts.CountInside(1, darts) + Darts.CountInside(2, darts);
        var serialSeconds = clock.Elapsed.TotalSeconds;

        // The workers JIT the method too before timing, as this process did.
        await cluster.MapAsync(Darts.CountInside, new[] { (0, 1_000_000L), (0, 1_000_000L) });

        clock.Restart();
        var inside = await cluster.MapAsync(Darts.CountInside, new[] { (1, darts), (2, darts) });
        var parallelSeconds = clock.Elapsed.TotalSeconds;
        if (inside.Sum() != serial)
        {
            throw new InvalidOperationException($"The workers counted {inside.Sum()} darts inside, this process {serial}.");
        }

        _speedup = serialSeconds / parallelSeconds;
        var pi = 4.0 * serial / (2 * darts);
        Row("cpu", $"MonteCarloPi, 2 tasks x {darts:N0} darts, 2 workers vs serial", $"{_speedup:F2}x (serial {serialSeconds:F2} s, cluster {parallelSeconds:F2} s, pi ~ {pi:F5})");
        _extra["montecarlo_serial_s"] = Math.Round(serialSeconds, 3);
        _extra["montecarlo_cluster_s"] = Math.Round(parallelSeconds, 3);
    }

    private async Task StreamAsync(Cluster cluster)
    {
        // The same no-op stream at two lengths: a bounded stream peaks at the same memory however long it is.
        int[] lengths = quick ? [100_000, 1_000_000] : [1_000_000, 10_000_000];
        await foreach (var _ in cluster.MapStreamAsync(Jobs.Noop, Enumerable.Range(0, lengths[0])))
        {
            // Warm-up, as long as the shorter run: JIT, tiered compilation and the workers' adaptive windows.
        }

        var noop = new JsonObject();
        foreach (var n in lengths)
        {
            var clock = Stopwatch.StartNew();
            long count = 0;
            var memory = MemoryPeak.Start();
            await using (memory)
            {
                await foreach (var result in cluster.MapStreamAsync(Jobs.Noop, Enumerable.Range(0, n)))
                {
                    if (result != count)
                    {
                        throw new InvalidOperationException($"MapStreamAsync result {count} was {result}: results must come in input order.");
                    }

                    count++;
                }
            }

            var seconds = clock.Elapsed.TotalSeconds;
            if (count != n)
            {
                throw new InvalidOperationException($"MapStreamAsync of {n} items yielded {count}.");
            }

            Row("stream", $"MapStreamAsync no-op, {n:N0} items", $"{n / seconds:N0} tasks/s, {seconds:F1} s");
            Row("stream", "  caller peak managed heap / peak RSS",
                $"{memory.PeakManagedMiB:F0} MiB / {memory.PeakRss:F0} MiB (before: {memory.BaselineManaged / 1048576.0:F0} / {memory.BaselineRss:F0} MiB)");
            noop[n.ToString()] = new JsonObject
            {
                ["tasks_per_s"] = Math.Round(n / seconds),
                ["peak_managed_mb"] = Math.Round(memory.PeakManagedMiB, 1),
                ["peak_rss_mb"] = Math.Round(memory.PeakRss, 1),
                ["baseline_managed_mb"] = Math.Round(memory.BaselineManaged / 1048576.0, 1),
                ["baseline_rss_mb"] = Math.Round(memory.BaselineRss, 1),
            };
        }

        _extra["stream"] = noop;

        // Small and large items through workers slower than the source (two workers of one slot each take in 1 KB items at
        // about 30,000 a second, 1 MB items at about 130 MB/s): the stream's window fills and stays full.
        var growth = new JsonObject();
        var growthHeap = new JsonObject();
        foreach (var (name, size, n, pause) in new[] { ("1kb", 1_000, quick ? 50_000 : 200_000, 64), ("1mb", 1_000_000, quick ? 1_000 : 3_000, 15_000) })
        {
            var (memory, seconds) = await StreamGrowthAsync(cluster, size, n, pause);
            growth[$"{name}_x{n}"] = Math.Round(memory.GrowthMiB, 1);
            growthHeap[$"{name}_x{n}"] = Math.Round(memory.PeakManagedMiB - (memory.BaselineManaged / 1048576.0), 1);
            Row("stream", $"MapStreamAsync of {n:N0} x {size:N0}-byte items, workers slower than the source: caller RSS growth",
                $"{memory.GrowthMiB:F0} MiB (managed heap +{memory.PeakManagedMiB - (memory.BaselineManaged / 1048576.0):F0} MiB; {n / seconds:N0} items/s, {seconds:F1} s)");
        }

        // Small arguments, large results, a consumer slower than the workers: what the window holds is mostly results.
        {
            var (n, size, pause) = (quick ? 1_000 : 2_000, 1_000_000, TimeSpan.FromMilliseconds(5));
            var (memory, seconds) = await ResultGrowthAsync(cluster, size, n, pause);
            growth[$"1mb_results_x{n}"] = Math.Round(memory.GrowthMiB, 1);
            growthHeap[$"1mb_results_x{n}"] = Math.Round(memory.PeakManagedMiB - (memory.BaselineManaged / 1048576.0), 1);
            Row("stream", $"MapStreamAsync of {n:N0} int items making {size:N0}-byte results, consumer slower than the workers: caller RSS growth",
                $"{memory.GrowthMiB:F0} MiB (managed heap +{memory.PeakManagedMiB - (memory.BaselineManaged / 1048576.0):F0} MiB; {n / seconds:N0} items/s, {seconds:F1} s)");
        }

        _streamGrowth = growth;
        _extra["stream_growth_managed_heap_mib"] = growthHeap;
    }

    /// <summary>
    /// Streams <paramref name="count"/> calls of <see cref="Jobs.Bytes"/> that each answer <paramref name="size"/> bytes,
    /// taking each result <paramref name="pause"/> after the one before, and answers what the caller's memory did meanwhile.
    /// </summary>
    private static async Task<(MemoryPeak Memory, double Seconds)> ResultGrowthAsync(Cluster cluster, int size, int count, TimeSpan pause)
    {
        var clock = Stopwatch.StartNew();
        long received = 0;
        var memory = MemoryPeak.Start();
        await using (memory)
        {
            await foreach (var bytes in cluster.MapStreamAsync(Jobs.Bytes, Enumerable.Repeat(size, count)))
            {
                if (bytes.Length != size || bytes[^1] != Jobs.LastByte(size))
                {
                    throw new InvalidOperationException($"Bytes({size:N0}) answered {bytes.Length:N0} bytes ending in {bytes[^1]} for item {received}.");
                }

                received++;
                await Task.Delay(pause);
            }
        }

        if (received != count)
        {
            throw new InvalidOperationException($"MapStreamAsync of {count} items yielded {received}.");
        }

        return (memory, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Streams <paramref name="count"/> fresh arrays of <paramref name="size"/> bytes through <see cref="Jobs.SlowLength"/>,
    /// <paramref name="microseconds"/> each, and answers what the caller's memory did meanwhile.
    /// </summary>
    private static async Task<(MemoryPeak Memory, double Seconds)> StreamGrowthAsync(Cluster cluster, int size, int count, int microseconds)
    {
        var clock = Stopwatch.StartNew();
        long received = 0;
        var memory = MemoryPeak.Start();
        await using (memory)
        {
            await foreach (var length in cluster.MapStreamAsync(Jobs.SlowLength, Items(size, count).Select(data => (data, microseconds))))
            {
                if (length != size)
                {
                    throw new InvalidOperationException($"SlowLength of item {received} answered {length:N0}; the items are {size:N0} bytes.");
                }

                received++;
            }
        }

        if (received != count)
        {
            throw new InvalidOperationException($"MapStreamAsync of {count} items yielded {received}.");
        }

        return (memory, clock.Elapsed.TotalSeconds);

        // Each item is a new array with every page written, as data read from files or the network would be.
        static IEnumerable<byte[]> Items(int size, int count)
        {
            for (var i = 0; i < count; i++)
            {
                var data = new byte[size];
                data.AsSpan().Fill((byte)i);
                yield return data;
            }
        }
    }

    // ---- one large argument in every item -------------------------------------------------------------------

    /// <summary>
    /// Maps over items that all pass the same 10 MB array, each timed call with a new array: with sharing (the array goes
    /// to each worker once) for 50 and 1,000 items, and without it for 50 (each item carries its own copy, and a map holds
    /// every item's serialized arguments, so 1,000 would hold 10 GB). Then the same 100 MB array passed to SubmitAsync
    /// again and again, which the worker holds: each call serializes and hashes it, and sends a reference.
    /// </summary>
    private async Task BroadcastAsync()
    {
        const int ModelBytes = 10_000_000;
        var broadcast = new JsonObject();
        foreach (var share in new[] { true, false })
        {
            var (options, _) = Options(Workers);
            await using var cluster = await Cluster.StartAsync(options with { ShareRepeatedArguments = share });
            var warm = new byte[1_000_000];
            await cluster.MapAsync(Jobs.Score, Enumerable.Range(0, 100).Select(i => (warm, i)));
            foreach (var items in share ? new[] { 50, 1000 } : [50])
            {
                var times = new List<double>();
                var megabytes = new List<double>();
                for (var r = 0; r < (quick ? 2 : 3); r++)
                {
                    var model = new byte[ModelBytes];
                    Random.Shared.NextBytes(model);
                    var before = cluster.Summary.ArgumentBytes;
                    var clock = Stopwatch.StartNew();
                    var scores = await cluster.MapAsync(Jobs.Score, Enumerable.Range(0, items).Select(i => (model, i)));
                    times.Add(clock.Elapsed.TotalMilliseconds);
                    megabytes.Add((cluster.Summary.ArgumentBytes - before) / MB);
                    if (scores.Length != items || scores[^1] != model[items - 1])
                    {
                        throw new InvalidOperationException($"Score over {items} items answered {scores.Length} scores, the last {scores[^1]}, not {model[items - 1]}.");
                    }
                }

                var (ms, mb) = (Stats.Median(times), Stats.Median(megabytes));
                var key = $"broadcast{(share ? string.Empty : "_nodedup")}_10mb_x{items}";
                broadcast[$"{key}_ms"] = Math.Round(ms, 1);
                broadcast[$"{key}_argument_mb"] = Math.Round(mb, 1);
                if (share && items == 1000)
                {
                    (_broadcastMs, _broadcastArgumentMb) = (ms, mb);
                }

                Row("broadcast", $"MapAsync, {items:N0} items sharing one 10 MB array, {(share ? "sent once per worker" : "sharing off: each item carries it")} (median of {times.Count})",
                    $"{ms,8:F0} ms, {mb,7:F1} MB of arguments sent");
            }

            if (share)
            {
                var data = new byte[100_000_000];
                Random.Shared.NextBytes(data);
                var seconds = await TransferAsync("argument (one array on every call, shared: the worker holds it)", 100, async () =>
                {
                    var length = await cluster.SubmitAsync(Jobs.Length, data);
                    return length == data.Length ? null : $"Length({data.Length:N0} bytes) answered {length:N0}.";
                });
                broadcast["broadcast_same_100mb_submit_ms"] = Math.Round(seconds * 1000, 1);
            }
        }

        _extra["broadcast"] = broadcast;
    }

    // ---- scaling with the number of workers ----------------------------------------------------------------

    private async Task ScalingAsync()
    {
        int[] counts = quick ? [1, 2, 4, 8] : [1, 2, 4, 8, 16];
        var n = quick ? 200_000 : 1_000_000;
        var scaling = new JsonObject();
        foreach (var workers in counts)
        {
            var (options, _) = Options(workers);
            var clock = Stopwatch.StartNew();
            await using var cluster = await Cluster.StartAsync(options);
            var startMs = clock.Elapsed.TotalMilliseconds;
            await cluster.MapAsync(Jobs.Noop, Enumerable.Range(0, n / 4)); // warm-up
            var times = new List<double>();
            for (var r = 0; r < (quick ? 1 : 3); r++)
            {
                clock.Restart();
                await cluster.MapAsync(Jobs.Noop, Enumerable.Range(0, n));
                times.Add(clock.Elapsed.TotalSeconds);
            }

            var rate = n / Stats.Median(times);
            scaling[workers.ToString()] = Math.Round(rate);
            Row("scaling", $"{workers,2} worker(s): MapAsync no-op, {n:N0} items", $"{rate,12:N0} tasks/s (start {startMs:F0} ms)");
        }

        _extra["scaling_tasks_per_s"] = scaling;
    }

    private void ManagedHeap(string when)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var mb = GC.GetTotalMemory(true) / 1048576.0;
        Console.WriteLine($"   caller managed heap {when} (after a full GC): {mb:F0} MiB, RSS {Rss.MiB(Environment.ProcessId):F0} MiB");
        _extra[$"managed_heap_mb_{when.Replace(' ', '_')}"] = Math.Round(mb, 1);
    }

    /// <summary>Reports synchronously, on the reporting thread (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class Inline<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    // ---- output ---------------------------------------------------------------------------------------------

    private void Row(string section, string what, string value)
    {
        _rows.Add((section, what, value));
        Console.WriteLine($"   {what}: {value}");
    }

    public void PrintTable()
    {
        var width = _rows.Count == 0 ? 10 : _rows.Max(r => r.What.Length);
        Console.WriteLine();
        Console.WriteLine($"| {"what".PadRight(width)} | value");
        Console.WriteLine($"|-{new string('-', width)}-|------");
        foreach (var (_, what, value) in _rows)
        {
            Console.WriteLine($"| {what.PadRight(width)} | {value}");
        }

        foreach (var failure in _failures)
        {
            Console.WriteLine($"FAILED: {failure}");
        }
    }

    public void WriteJson(string path)
    {
        var json = new JsonObject
        {
            ["start_ms"] = Round(_startMs),
            ["latency_p50_us"] = Round(_p50),
            ["latency_p99_us"] = Round(_p99),
            ["throughput_tasks_per_s"] = Keyed(_throughput.Where(t => t.Key <= 1_000_000).Select(t => (t.Key.ToString(), t.Value))),
            ["payload_mb_per_s"] = Keyed(_payload.Select(p => (p.Key.ToString(), p.Value))),
            ["payload_1mb_ms"] = _payload1MbMs is { } oneMb ? Math.Round(oneMb, 2) : null,
            ["result_mb_per_s"] = Keyed(_results.Select(r => (r.Key.ToString(), r.Value))),
            ["warm_sync_ms"] = Round(_warmSyncMs),
            ["idle_rss_mb"] = Round(_idleRssMb),
            ["montecarlo_speedup"] = _speedup is { } s ? Math.Round(s, 2) : null,
            ["stream_growth_mib"] = _streamGrowth,
            ["broadcast_10mb_x1000_ms"] = Round(_broadcastMs),
            ["broadcast_argument_mb"] = Round(_broadcastArgumentMb),
            ["extra"] = _extra,
        };
        _load?.WriteJson(json);
        _executors?.WriteJson(json);
        _dashboard?.WriteJson(json);
        _warm?.WriteJson(json);
        _ec2?.WriteJson(json);
        _extra["mode"] = quick ? "quick" : "full";
        _extra["cold_start_ms"] = Round(_coldStartMs);
        _extra["warm_sync_bytes"] = _warmSyncBytes;
        if (_throughput.TryGetValue(10_000_000, out var tenMillion))
        {
            _extra["throughput_tasks_per_s_10000000"] = Math.Round(tenMillion);
        }

        if (_failures.Count > 0)
        {
            _extra["failures"] = new JsonArray([.. _failures.Select(f => (JsonNode)f)]);
        }

        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        File.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");

        static JsonNode? Round(double? value) => value is { } v ? Math.Round(v, 1) : null;

        static JsonObject Keyed(IEnumerable<(string Key, double Value)> values)
        {
            var obj = new JsonObject();
            foreach (var (key, value) in values)
            {
                obj[key] = Math.Round(value, 1);
            }

            return obj;
        }
    }
}
