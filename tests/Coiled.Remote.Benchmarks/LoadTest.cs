using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Coiled.Remote.Benchmarks;

/// <summary>
/// A busy machine causes no false worker deaths: while two other processes keep the cores busy, 16 local workers
/// (default <see cref="ClusterOptions.WorkerTimeout"/>) run a MapAsync of about a minute whose tasks fill every slot and
/// make the garbage collector work, with long blocking gen2 collections of a heap of several GB on the heavy workers.
/// No worker may be lost, no task may run twice, and every result must come back once, in order.
/// </summary>
internal sealed class LoadTest(string cache, Action<string, string, string> row, List<string> failures)
{
    private const int Workers = 16;
    private const int Burners = 2;
    private const int HeavyWorkers = 2;
    private const long GiB = 1L << 30;
    private const long MiB = 1L << 20;

    /// <summary>Items of the map: 11 waves of 5-second tasks over 16 slots, about a minute.</summary>
    private const int Items = 176;

    private static readonly LoadWork Work = new(
        Folder: string.Empty,
        HeavyWorkers: HeavyWorkers,
        HeavyBytes: 5 * GiB / 2,
        RetainedBytes: 96 * MiB,
        ChurnSeconds: 5);

    private readonly JsonObject _figures = [];
    private long _lastProgress;

    /// <summary>Adds the figures (<c>load_*</c>) to the benchmark's JSON.</summary>
    public void WriteJson(JsonObject json)
    {
        foreach (var (key, value) in _figures)
        {
            json[key] = value?.DeepClone();
        }
    }

    public async Task RunAsync()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"coiled-remote-load-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
        var runs = Directory.CreateDirectory(Path.Combine(folder, "runs")).FullName;
        Directory.CreateDirectory(Path.Combine(folder, "collections"));
        var work = Work with { Folder = folder };
        using var log = new LogCapture();
        using var loggerFactory = log.CreateFactory();
        var burners = new List<CpuBurner>();
        using var watching = new CancellationTokenSource();
        try
        {
            for (var i = 0; i < Burners; i++)
            {
                burners.Add(CpuBurner.Start());
            }

            var backend = new LocalProcessBackend { CacheDirectory = cache };
            var clock = Stopwatch.StartNew();
            await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = Workers, Backend = backend, LoggerFactory = loggerFactory });
            var startMs = clock.Elapsed.TotalMilliseconds;
            _figures["load_start_ms"] = Math.Round(startMs);
            row("load", $"cluster start, {Workers} workers, {Burners} x yes > /dev/null beside them", $"{startMs:F0} ms");

            var memory = WatchMemoryAsync(backend.ProcessIds, watching.Token);

            // Every worker builds what it keeps; the heavy ones grow theirs to several GB, so the map runs on full heaps.
            clock.Restart();
            var prepared = await cluster.MapAsync(LoadJobs.Prepare, Enumerable.Range(0, Workers).Select(i => (i, work)));
            ReportPreparation(prepared, clock.Elapsed.TotalSeconds);

            var burnedBefore = TimeSpan.FromTicks(burners.Sum(b => b.CpuTime.Ticks));
            LoadSample[]? samples = null;
            _lastProgress = Stopwatch.GetTimestamp();
            var mapStart = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            clock.Restart();
            try
            {
                samples = await cluster.MapAsync(LoadJobs.Churn, Enumerable.Range(0, Items).Select(i => (i, work)), new Progress<MapProgress>(PrintProgress));
            }
            catch (Exception ex)
            {
                failures.Add($"load: MapAsync failed: {ex.GetType().Name}: {ex.Message}");
                Console.Error.WriteLine($"FAILED load MapAsync: {ex}");
            }

            var mapSeconds = clock.Elapsed.TotalSeconds;
            var mapEnd = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var burned = TimeSpan.FromTicks(burners.Sum(b => b.CpuTime.Ticks)) - burnedBefore;
            var burnersRunning = burners.Count(b => b.Running);
            await watching.CancelAsync();
            var (minAvailable, peakWorkersRss) = await memory;

            var workers = cluster.Workers;
            Report(samples, workers, log.Lines, runs, mapSeconds, burned, burnersRunning);
            ReportCollections(samples, workers, folder, mapStart, mapEnd);
            _figures["load_min_mem_available_gib"] = Math.Round(minAvailable, 1);
            _figures["load_peak_workers_rss_gib"] = Math.Round(peakWorkersRss, 1);
            row("load", "  lowest MemAvailable / peak RSS of the workers", $"{minAvailable:F1} GiB / {peakWorkersRss:F1} GiB");
        }
        finally
        {
            // The cluster is disposed by now (await using); the watch, the burners and the folder go whatever happened.
            await watching.CancelAsync();
            foreach (var burner in burners)
            {
                burner.Dispose();
            }

            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (IOException ex)
            {
                Console.Error.WriteLine($"Could not delete {folder}: {ex.Message}");
            }
        }
    }

    private void ReportPreparation(LoadSample[] prepared, double seconds)
    {
        var heavy = prepared.Where(s => s.Heavy).GroupBy(s => s.ProcessId).Select(g => g.MaxBy(s => s.RetainedBytes)!).ToList();
        _figures["load_prepare_s"] = Math.Round(seconds, 1);
        row("load", $"  preparation: {heavy.Count} heavy worker(s) grew to {string.Join(" and ", heavy.Select(s => $"{s.RetainedBytes / (double)GiB:F2}"))} GiB",
            $"{seconds:F1} s, {heavy.Sum(s => s.Gen2Collections)} gen2 GCs, largest at {heavy.Select(s => s.LargestGen2HeapBytes).DefaultIfEmpty().Max() / (double)GiB:F2} GiB heap, longest pause {heavy.Select(s => s.LongestPauseMs).DefaultIfEmpty().Max():F0} ms");
    }

    /// <summary>What the cluster and the markers say: lost workers, re-runs, results; and what the samples say of the workers that are not heavy.</summary>
    private void Report(LoadSample[]? samples, IReadOnlyList<WorkerInfo> workers, IReadOnlyList<string> logLines, string runs, double mapSeconds, TimeSpan burned, int burnersRunning)
    {
        var lost = workers.Count(w => w.State == WorkerState.Lost);
        var replacements = Math.Max(0, workers.Count - Workers);
        var lostLines = logLines.Count(l => l.Contains("was lost", StringComparison.Ordinal));

        // Every execution of a task left one file named after its item.
        var executions = new int[Items];
        var strays = 0;
        foreach (var file in Directory.EnumerateFiles(runs))
        {
            var name = Path.GetFileName(file);
            if (int.TryParse(name[..Math.Max(0, name.IndexOf('-'))], CultureInfo.InvariantCulture, out var item) && item >= 0 && item < Items)
            {
                executions[item]++;
            }
            else
            {
                strays++;
            }
        }

        var rerun = executions.Sum(n => Math.Max(0, n - 1));
        var neverRan = executions.Count(n => n == 0);
        var misplaced = samples is null ? Items : Math.Abs(samples.Length - Items) + samples.Where((s, i) => s.Item != i).Count();
        var rounds = samples?.Sum(s => s.Rounds) ?? 0;
        var large = samples?.Sum(s => s.LargeBufferBytes) ?? 0;

        _figures["load_workers_lost"] = lost;
        _figures["load_workers_replaced"] = replacements;
        _figures["load_lost_warnings"] = lostLines;
        _figures["load_tasks_rerun"] = rerun;
        _figures["load_items"] = Items;
        _figures["load_map_s"] = Math.Round(mapSeconds, 1);
        _figures["load_churn_rounds"] = rounds;
        _figures["load_large_buffers_gib"] = Math.Round(large / (double)GiB, 1);
        _figures["load_burner_cores"] = Math.Round(burned.TotalSeconds / mapSeconds, 2);

        row("load", $"MapAsync, {Items} items on {Workers} workers, {Work.ChurnSeconds:0.#} s of churn each", $"{mapSeconds:F1} s, {rounds:N0} rounds of churn, {large / (double)GiB:F1} GiB of large buffers");
        row("load", "  workers lost / replaced / 'was lost' warnings", $"{lost} / {replacements} / {lostLines}");
        row("load", "  tasks re-run / never run / results missing or out of order", $"{rerun} / {neverRan} / {misplaced}");
        row("load", $"  {Burners} x yes > /dev/null during the map", $"{burned.TotalSeconds / mapSeconds:F2} cores, {burnersRunning} still running at the end");

        if (lost + replacements + lostLines > 0)
        {
            failures.Add($"load: {lost} worker(s) lost, {replacements} replaced, {lostLines} 'was lost' warning(s); expected none");
        }

        if (rerun + neverRan + strays > 0)
        {
            failures.Add($"load: {rerun} task execution(s) re-ran, {neverRan} item(s) never ran, {strays} unexpected marker file(s); expected every item exactly once");
        }

        if (misplaced > 0)
        {
            failures.Add($"load: {misplaced} result(s) missing or out of order; expected every result once, in input order");
        }

        if (burnersRunning != Burners)
        {
            failures.Add($"load: only {burnersRunning} of {Burners} yes > /dev/null processes were still running after the map: the cores were not kept busy");
        }

        if (samples is null)
        {
            return;
        }

        // A sample holds its process's figures so far, so the largest is the last word.
        var processes = samples.GroupBy(s => s.ProcessId).ToList();
        var light = processes.Where(g => !g.Any(s => s.Heavy)).Select(g => (Tasks: g.Count(), Gen2: g.Max(s => s.Gen2Collections), Heap: g.Max(s => s.LargestGen2HeapBytes), Pause: g.Max(s => s.LongestPauseMs))).ToList();
        var gcModes = string.Join("; ", samples.Select(s => s.GcMode).Distinct());
        _figures["load_worker_processes"] = processes.Count;
        _figures["load_gc"] = gcModes;
        if (light.Count > 0)
        {
            row("load", $"  {light.Count} workers that are not heavy ({gcModes}): {light.Min(p => p.Tasks)}-{light.Max(p => p.Tasks)} tasks, {Work.RetainedBytes / MiB} MiB retained each",
                $"{light.Min(p => p.Gen2)}-{light.Max(p => p.Gen2)} gen2 GCs each, largest at {light.Max(p => p.Heap) / (double)MiB:F0} MiB heap, longest pause {light.Max(p => p.Pause):F0} ms");
        }

        if (processes.Count < Workers)
        {
            failures.Add($"load: tasks ran on {processes.Count} worker processes; expected all {Workers}");
        }

        if (light.Any(p => p.Gen2 == 0))
        {
            failures.Add($"load: {light.Count(p => p.Gen2 == 0)} worker(s) had no gen2 collection during the map; the churn is meant to cause them on every worker");
        }
    }

    /// <summary>
    /// What the workers' collection logs say of the map, lost workers included (their last samples never came back):
    /// the heavy workers' gen2 collections, the longest pauses, and whether a lost worker was in a collection.
    /// </summary>
    private void ReportCollections(LoadSample[]? samples, IReadOnlyList<WorkerInfo> workers, string folder, long mapStart, long mapEnd)
    {
        var heavyPids = Directory.EnumerateFiles(folder, "heavy-*").Select(f => int.Parse(File.ReadAllText(f), CultureInfo.InvariantCulture)).Order().ToList();
        var unreadable = 0;
        var events = new Dictionary<int, List<CollectionEvent>>();
        foreach (var file in Directory.EnumerateFiles(Path.Combine(folder, "collections"), "*.log"))
        {
            var own = events[int.Parse(Path.GetFileNameWithoutExtension(file), CultureInfo.InvariantCulture)] = [];
            foreach (var line in File.ReadAllLines(file))
            {
                if (!CollectionEvent.TryParse(line, out var collection))
                {
                    unreadable++;
                }
                else if (collection.UnixMs >= mapStart && collection.UnixMs <= mapEnd)
                {
                    own.Add(collection);
                }
            }
        }

        if (unreadable > 0)
        {
            Console.WriteLine($"   {unreadable} line(s) of the workers' collection logs were cut short (their process was killed while writing)");
        }

        var inMap = events.Values.SelectMany(e => e).ToList();
        var maxPause = Math.Max(inMap.Select(e => e.PauseMs).DefaultIfEmpty().Max(), samples?.Select(s => s.LongestPauseMs).DefaultIfEmpty().Max() ?? 0);
        var maxHeap = inMap.Where(e => e.Generation == 2).Select(e => e.HeapBytes).DefaultIfEmpty().Max();
        _figures["load_max_gc_pause_ms"] = Math.Round(maxPause);
        _figures["load_max_heap_gib"] = Math.Round(maxHeap / (double)GiB, 2);
        _figures["load_gen2_collections"] = inMap.Count(e => e.Generation == 2);

        var heavy = new JsonArray();
        foreach (var pid in heavyPids)
        {
            var gen2 = events.GetValueOrDefault(pid, []).Where(e => e.Generation == 2).ToList();
            var largest = gen2.MaxBy(e => e.HeapBytes);
            var longest = events.GetValueOrDefault(pid, []).Select(e => e.PauseMs).DefaultIfEmpty().Max();
            var fate = workers.FirstOrDefault(w => w.ProcessId == pid)?.State == WorkerState.Lost ? "lost" : "kept";
            var tasks = samples?.Count(s => s.ProcessId == pid) ?? 0;
            heavy.Add(new JsonObject
            {
                ["pid"] = pid,
                ["fate"] = fate,
                ["tasks_returned"] = tasks,
                ["gen2_collections"] = gen2.Count,
                ["largest_gen2_heap_gib"] = Math.Round((largest?.HeapBytes ?? 0) / (double)GiB, 2),
                ["largest_gen2_alive_gib"] = Math.Round((largest?.AliveBytes ?? 0) / (double)GiB, 2),
                ["longest_pause_ms"] = Math.Round(longest),
            });
            row("load", $"  heavy worker pid {pid} ({fate}, {tasks} tasks returned)",
                $"{gen2.Count} gen2 GCs, largest at {(largest?.HeapBytes ?? 0) / (double)GiB:F2} GiB heap ({(largest?.AliveBytes ?? 0) / (double)GiB:F2} GiB alive), longest pause {longest:F0} ms");
            if (largest is null || largest.HeapBytes < 2 * GiB)
            {
                failures.Add($"load: heavy worker pid {pid} had no gen2 collection of a heap of 2 GiB or more during the map");
            }
        }

        _figures["load_heavy_workers"] = heavy;
        if (heavyPids.Count != HeavyWorkers)
        {
            failures.Add($"load: {heavyPids.Count} worker(s) became heavy; expected {HeavyWorkers}");
        }

        foreach (var worker in workers.Where(w => w.State == WorkerState.Lost && !heavyPids.Contains(w.ProcessId)))
        {
            var longest = events.GetValueOrDefault(worker.ProcessId, []).MaxBy(e => e.PauseMs);
            row("load", $"  lost worker {worker.Id} pid {worker.ProcessId} (not heavy)", longest is null ? "no pause of 1 s or more" : $"longest pause {longest.PauseMs:F0} ms (gen{longest.Generation}, heap {longest.HeapBytes / (double)MiB:F0} MiB)");
        }

        row("load", "  longest GC pause of any worker during the map", $"{maxPause:F0} ms");
    }

    /// <summary>Prints how far the map has come, every ten seconds and at the end.</summary>
    private void PrintProgress(MapProgress progress)
    {
        var last = Interlocked.Read(ref _lastProgress);
        var now = Stopwatch.GetTimestamp();
        if ((progress.Completed == progress.Total || Stopwatch.GetElapsedTime(last, now) >= TimeSpan.FromSeconds(10))
            && Interlocked.CompareExchange(ref _lastProgress, now, last) == last)
        {
            Console.WriteLine($"   {progress.Completed} of {progress.Total} items ({progress.Failed} failed), {progress.ItemsPerSecond:F1} items/s");
        }
    }

    /// <summary>Samples the machine's available memory and the workers' total resident set until cancelled; answers the lowest and the highest (GiB).</summary>
    private static async Task<(double MinAvailableGiB, double PeakWorkersGiB)> WatchMemoryAsync(IReadOnlyList<int> pids, CancellationToken cancellationToken)
    {
        var minAvailable = double.MaxValue;
        var peakWorkers = 0.0;
        while (true)
        {
            minAvailable = Math.Min(minAvailable, MemAvailableGiB());
            var workers = 0.0;
            foreach (var pid in pids)
            {
                try
                {
                    workers += Rss.MiB(pid) / 1024;
                }
                catch (Exception ex) when (ex is IOException or InvalidOperationException)
                {
                    // The worker exited (or is exiting: no memory left to show); the report counts lost workers.
                }
            }

            peakWorkers = Math.Max(peakWorkers, workers);
            try
            {
                await Task.Delay(500, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return (minAvailable, peakWorkers);
            }
        }
    }

    private static double MemAvailableGiB()
    {
        foreach (var line in File.ReadLines("/proc/meminfo"))
        {
            if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
            {
                return long.Parse(line["MemAvailable:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / (1024.0 * 1024);
            }
        }

        throw new InvalidOperationException("/proc/meminfo has no MemAvailable line.");
    }
}
