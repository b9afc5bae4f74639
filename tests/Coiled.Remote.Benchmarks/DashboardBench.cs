using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Coiled.Remote.Benchmarks;

/// <summary>
/// What the dashboard costs: the 1,000,000-item no-op map and the SubmitAsync round trip on a 2-worker cluster with the
/// dashboard on (its page polled once a second, as a browser does) against one with it off, runs interleaved so that
/// the machine's drift falls on both alike; and a cluster's start with it and without it.
/// </summary>
internal sealed class DashboardBench(string cache, bool quick, Action<string, string, string> row)
{
    private const int Workers = 2;
    private const int Items = 1_000_000;

    private readonly JsonObject _json = [];
    private double? _overheadPct;

    public async Task RunAsync()
    {
        await StartsAsync();
        await using var off = await StartAsync(dashboard: false);
        await using var on = await StartAsync(dashboard: true);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var stop = new CancellationTokenSource();
        var polls = PollAsync(http, new Uri(on.DashboardUri!, "api/snapshot"), stop.Token);
        try
        {
            foreach (var cluster in new[] { off, on })
            {
                var warm = Stopwatch.StartNew();
                while (warm.Elapsed < TimeSpan.FromSeconds(quick ? 1 : 3))
                {
                    await cluster.MapAsync(Jobs.Noop, Enumerable.Range(0, 100_000));
                }
            }

            var reps = quick ? 3 : 9;
            var offTimes = new List<double>();
            var onTimes = new List<double>();
            var offLatency = new List<double>();
            var onLatency = new List<double>();
            for (var r = 0; r < reps; r++)
            {
                // Alternating which goes first keeps a slow moment of the machine from falling on one side only.
                var order = r % 2 == 0 ? new[] { (off, offTimes, offLatency), (on, onTimes, onLatency) } : [(on, onTimes, onLatency), (off, offTimes, offLatency)];
                foreach (var (cluster, times, latency) in order)
                {
                    times.Add(await MapSecondsAsync(cluster));
                    latency.Add(await SubmitP50Async(cluster, quick ? 500 : 2000));
                }
            }

            var offRate = Items / Stats.Median(offTimes);
            var onRate = Items / Stats.Median(onTimes);
            var offP50 = Stats.Median(offLatency);
            var onP50 = Stats.Median(onLatency);
            _overheadPct = Math.Round((offRate - onRate) / offRate * 100, 2);
            row("dashboard", $"MapAsync no-op, {Items:N0} items, dashboard off (median of {reps})", $"{offRate,12:N0} tasks/s");
            row("dashboard", $"MapAsync no-op, {Items:N0} items, dashboard on and polled every second (median of {reps})", $"{onRate,12:N0} tasks/s ({_overheadPct:F1} % lost)");
            row("dashboard", "SubmitAsync round trip p50, dashboard off / on", $"{offP50:F0} µs / {onP50:F0} µs ({(onP50 - offP50) / offP50 * 100:F1} % slower)");
            _json["off_tasks_per_s"] = Math.Round(offRate);
            _json["on_tasks_per_s"] = Math.Round(onRate);
            _json["off_latency_p50_us"] = Math.Round(offP50, 1);
            _json["on_latency_p50_us"] = Math.Round(onP50, 1);
            _json["latency_overhead_pct"] = Math.Round((onP50 - offP50) / offP50 * 100, 2);
        }
        finally
        {
            stop.Cancel();
            _json["snapshots_polled"] = await polls;
        }
    }

    public void WriteJson(JsonObject json)
    {
        json["dashboard_overhead_pct"] = _overheadPct;
        json["dashboard"] = _json.DeepClone();
    }

    private Task<Cluster> StartAsync(bool dashboard, bool inProcess = false)
        => Cluster.StartAsync(new ClusterOptions
        {
            Workers = Workers, Backend = inProcess ? new InProcessBackend() : new LocalProcessBackend { CacheDirectory = cache }, Dashboard = dashboard,
        });

    /// <summary>
    /// Cluster starts with the dashboard and without, interleaved, after one of each to warm up: worker processes, and
    /// in-process workers, whose start is short enough to show what the dashboard's server adds.
    /// </summary>
    private async Task StartsAsync()
    {
        await StartsAsync(inProcess: false, quick ? 3 : 5);
        await StartsAsync(inProcess: true, quick ? 10 : 20);
    }

    private async Task StartsAsync(bool inProcess, int count)
    {
        var times = new Dictionary<bool, List<double>> { [false] = [], [true] = [] };
        for (var i = 0; i <= count; i++)
        {
            foreach (var dashboard in i % 2 == 0 ? new[] { false, true } : [true, false])
            {
                var clock = Stopwatch.StartNew();
                var cluster = await StartAsync(dashboard, inProcess);
                var ms = clock.Elapsed.TotalMilliseconds;
                await cluster.DisposeAsync();
                if (i > 0)
                {
                    times[dashboard].Add(ms);
                }
            }
        }

        var offMs = Stats.Median(times[false]);
        var onMs = Stats.Median(times[true]);
        var kind = inProcess ? "in-process" : "process";
        row("dashboard", $"cluster start, {Workers} {kind} workers, dashboard off / on (median of {count}, warm)", $"{offMs:F1} ms / {onMs:F1} ms");
        _json[$"start_{kind.Replace('-', '_')}_off_ms"] = Math.Round(offMs, 1);
        _json[$"start_{kind.Replace('-', '_')}_on_ms"] = Math.Round(onMs, 1);
    }

    private static async Task<double> MapSecondsAsync(Cluster cluster)
    {
        var clock = Stopwatch.StartNew();
        var results = await cluster.MapAsync(Jobs.Noop, Enumerable.Range(0, Items));
        var seconds = clock.Elapsed.TotalSeconds;
        if (results.Length != Items || results[^1] != Items - 1)
        {
            throw new InvalidOperationException($"MapAsync of {Items} items returned {results.Length} results.");
        }

        return seconds;
    }

    private static async Task<double> SubmitP50Async(Cluster cluster, int n)
    {
        var samples = new double[n];
        for (var i = 0; i < n; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await cluster.SubmitAsync(Jobs.Noop, i);
            samples[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }

        return Stats.Percentile(samples, 50);
    }

    /// <summary>Asks for the page's snapshot once a second, as an open dashboard does; returns how many it got.</summary>
    private static async Task<int> PollAsync(HttpClient http, Uri snapshot, CancellationToken cancellationToken)
    {
        var count = 0;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                await http.GetByteArrayAsync(snapshot, cancellationToken);
                count++;
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }

        return count;
    }
}
