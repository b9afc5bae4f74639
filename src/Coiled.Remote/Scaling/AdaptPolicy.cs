namespace Coiled.Remote.Scaling;

/// <summary>
/// What <see cref="Cluster.Adapt"/> decides each second from what the cluster holds: grow toward the maximum while
/// tasks wait beyond the workers' slots, retire workers idle for the scale-down time down to the minimum, and never
/// retire sooner than that after growing, so that the cluster does not swing faster than the scale-down time.
/// </summary>
internal sealed class AdaptPolicy
{
    private readonly Dictionary<string, DateTimeOffset> _lastBusy = new(StringComparer.Ordinal);
    private DateTimeOffset _lastGrown = DateTimeOffset.MinValue;

    /// <param name="minimum">Fewest workers, at least 1.</param>
    /// <param name="maximum">Most workers, at least <paramref name="minimum"/>.</param>
    /// <param name="scaleDownAfter">How long a worker is idle before it retires, and the least time between growing and retiring.</param>
    public AdaptPolicy(int minimum, int maximum, TimeSpan scaleDownAfter)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(minimum, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maximum, minimum);
        if (scaleDownAfter <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(scaleDownAfter), scaleDownAfter, "scaleDownAfter must be positive.");
        }

        (Minimum, Maximum, ScaleDownAfter) = (minimum, maximum, scaleDownAfter);
    }

    public int Minimum { get; }

    public int Maximum { get; }

    public TimeSpan ScaleDownAfter { get; }

    /// <summary>What the cluster should do: grow to <paramref name="Target"/> workers, or retire <paramref name="Retire"/>; and why.</summary>
    public sealed record Decision(int Target, IReadOnlyList<string> Retire, string Reason);

    /// <summary>One worker that runs or will run tasks: its id, its slots, and its tasks in flight (running and prefetched).</summary>
    public readonly record struct Worker(string Id, int Slots, int InFlight);

    /// <summary>The decision for now, or null to leave the cluster as it is.</summary>
    /// <param name="now">The cluster's clock.</param>
    /// <param name="workers">The workers that run or will run tasks (not retiring, lost or ended).</param>
    /// <param name="queued">Tasks not yet sent to any worker.</param>
    public Decision? Decide(DateTimeOffset now, IReadOnlyList<Worker> workers, long queued)
    {
        foreach (var worker in workers)
        {
            if (worker.InFlight > 0 || !_lastBusy.ContainsKey(worker.Id))
            {
                // A worker counts as busy from when it joined.
                _lastBusy[worker.Id] = now;
            }
        }

        foreach (var gone in _lastBusy.Keys.Where(id => workers.All(w => w.Id != id)).ToList())
        {
            _lastBusy.Remove(gone);
        }

        var count = workers.Count;
        var slots = workers.Sum(w => w.Slots);
        var demand = queued + workers.Sum(w => (long)w.InFlight);
        if (count < Minimum)
        {
            return Grow(now, Minimum, $"fewer than the minimum of {Minimum}");
        }

        if (count > Maximum)
        {
            return new Decision(Maximum, IdleFirst(workers, count - Maximum), $"more than the maximum of {Maximum}");
        }

        // Tasks a worker holds but has not started are its own to run: only tasks no worker holds yet call for more.
        if (queued > 0 && demand > slots && count < Maximum)
        {
            var perWorker = Math.Max(1, slots / Math.Max(1, count));
            var wanted = (int)Math.Min(Maximum, (demand + perWorker - 1) / perWorker);
            return wanted > count ? Grow(now, wanted, $"{demand} task(s) waiting or running on {slots} slot(s)") : null;
        }

        if (queued > 0 || count <= Minimum || now - _lastGrown < ScaleDownAfter)
        {
            return null;
        }

        var idle = workers
            .Where(w => w.InFlight == 0 && now - _lastBusy[w.Id] >= ScaleDownAfter)
            .OrderBy(w => _lastBusy[w.Id])
            .Take(count - Minimum)
            .Select(w => w.Id)
            .ToList();
        return idle.Count == 0
            ? null
            : new Decision(count - idle.Count, idle, $"{idle.Count} worker(s) idle for {ScaleDownAfter.TotalSeconds:0} s");
    }

    /// <summary>The cluster finished growing at <paramref name="now"/>: no worker retires for the scale-down time from then.</summary>
    public void Grown(DateTimeOffset now) => _lastGrown = now > _lastGrown ? now : _lastGrown;

    private Decision Grow(DateTimeOffset now, int target, string why)
    {
        _lastGrown = now;
        return new Decision(target, [], why);
    }

    private static List<string> IdleFirst(IReadOnlyList<Worker> workers, int count)
        => [.. workers.OrderBy(w => w.InFlight).Take(count).Select(w => w.Id)];
}
