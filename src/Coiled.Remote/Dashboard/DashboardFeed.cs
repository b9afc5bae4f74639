namespace Coiled.Remote.Dashboard;

/// <summary>
/// Builds the dashboard's snapshots from the cluster and its <see cref="DashboardRecorder"/>. The page asks once a
/// second; the work is done then, per worker and per call, never per task. Until the cluster runs
/// (<see cref="Attach"/>), the page shows it starting, since the server starts together with the workers.
/// </summary>
internal sealed class DashboardFeed : IDashboardSource
{
    /// <summary>How far back the cost rate looks.</summary>
    private static readonly TimeSpan CostRateWindow = TimeSpan.FromMinutes(1);

    private readonly DashboardRecorder _recorder;
    private readonly string _backend;
    private readonly object _gate = new();
    private readonly Dictionary<string, (double CpuSeconds, double AtMs)> _cpu = new(StringComparer.Ordinal);
    private readonly Dictionary<string, double> _cpuPercent = new(StringComparer.Ordinal);
    private readonly Queue<(double AtMs, decimal Dollars)> _costs = new();
    private IDashboardCluster? _cluster;

    public DashboardFeed(DashboardRecorder recorder, string backend)
    {
        _recorder = recorder;
        _backend = backend;
    }

    public DashboardRecorder Recorder => _recorder;

    /// <summary>The cluster started: from now on the page shows it.</summary>
    public void Attach(IDashboardCluster cluster) => Volatile.Write(ref _cluster, cluster);

    public DashboardSnapshot Snapshot(double sinceMs)
    {
        var now = _recorder.NowMs;
        var cluster = Volatile.Read(ref _cluster);
        var bars = _recorder.Bars(sinceMs, DashboardLimits.BarsSent);
        var errors = _recorder.Errors();
        var calls = _recorder.Calls(now, DashboardLimits.CallsSent).Select(c => Call(c, now)).ToList();
        if (cluster is null)
        {
            return new DashboardSnapshot(now, "starting", _backend, DashboardLimits.StreamWindow.TotalMilliseconds, [], calls, bars, errors, new DashboardCost(null, null, 0, null));
        }

        var workers = Workers(cluster, now);
        var cost = cluster.Cost;
        var time = cluster.Time;
        return new DashboardSnapshot(
            now, cluster.IsClosed ? "closed" : "running", _backend, DashboardLimits.StreamWindow.TotalMilliseconds, workers, calls, bars, errors,
            new DashboardCost(cost, CostRate(cost, now), time.WorkerSeconds, time.IdleShare));
    }

    private List<DashboardWorker> Workers(IDashboardCluster cluster, double now)
    {
        var samples = cluster.DashboardWorkers();
        var inFlight = cluster.TasksInFlight();
        var activities = _recorder.WorkerActivities();
        var live = new List<DashboardWorker>();
        var ended = new List<DashboardWorker>();
        lock (_gate)
        {
            foreach (var sample in samples)
            {
                activities.TryGetValue(sample.Id, out var activity);
                var isLive = sample.State is WorkerState.Starting or WorkerState.Ready or WorkerState.Retiring;
                var reason = activity.Ended ?? (sample.State == WorkerState.Retired ? "retired: the cluster scaled down" : sample.State.ToString().ToLowerInvariant());
                var running = isLive ? Math.Min(inFlight.GetValueOrDefault(sample.Id), sample.Slots) : 0;
                (isLive ? live : ended).Add(new DashboardWorker(
                    sample.Id, sample.State.ToString(), sample.Address.ToString(), sample.Cores, sample.Slots, isLive ? CpuPercent(sample, now) : null,
                    sample.WorkingSetBytes, sample.GcHeapBytes, running, activity.Done, isLive ? null : reason));
            }
        }

        // Live workers first, in the order they joined; then the ended ones, latest first; no more than the page can show.
        ended.Reverse();
        return [.. live.Concat(ended).Take(DashboardLimits.WorkersSent)];
    }

    /// <summary>The worker's processor use between its last two reports that the dashboard saw (feed lock).</summary>
    private double? CpuPercent(WorkerSample sample, double now)
    {
        if (sample.CpuSeconds is not { } cpu)
        {
            return null;
        }

        if (_cpu.TryGetValue(sample.Id, out var last) && cpu > last.CpuSeconds && now - last.AtMs >= 200)
        {
            _cpuPercent[sample.Id] = Math.Clamp((cpu - last.CpuSeconds) * 1000 / (now - last.AtMs) / Math.Max(1, sample.Cores) * 100, 0, 100);
            _cpu[sample.Id] = (cpu, now);
        }
        else if (!_cpu.ContainsKey(sample.Id) || cpu < last.CpuSeconds)
        {
            _cpu[sample.Id] = (cpu, now);
        }

        return _cpuPercent.TryGetValue(sample.Id, out var percent) ? percent : null;
    }

    /// <summary>Dollars per hour over the last minute of snapshots; null without prices or before two snapshots.</summary>
    private decimal? CostRate(decimal? cost, double now)
    {
        if (cost is not { } dollars)
        {
            return null;
        }

        lock (_gate)
        {
            _costs.Enqueue((now, dollars));
            while (_costs.Count > 2 && now - _costs.Peek().AtMs > CostRateWindow.TotalMilliseconds)
            {
                _costs.Dequeue();
            }

            var (firstMs, firstDollars) = _costs.Peek();
            return now - firstMs < 500 ? null : (dollars - firstDollars) * 3_600_000m / (decimal)(now - firstMs);
        }
    }

    private static DashboardCall Call(CallRecord call, double now)
    {
        var ended = call.Done + call.Failed;
        var rate = call.EndedMs is { } endedMs
            ? (endedMs > call.StartedMs ? ended * 1000 / (endedMs - call.StartedMs) : 0)
            : call.Rate;
        double? remaining = call.EndedMs is null && call.Total >= 0 && rate > 0 ? Math.Max(0, call.Total - ended) / rate : null;
        return new DashboardCall(call.Id, call.Method, call.Done, call.Failed, call.Total, rate, remaining, call.StartedMs, call.EndedMs, call.Outcome);
    }
}
