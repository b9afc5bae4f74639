using Coiled.Remote.Transport.Protocol;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// Tells, from one worker's reports (<see cref="WorkerStats"/>, about twice a second), when it runs short of memory or
/// thrashes, once per episode: memory is short when the worker's processes hold more than 90 % of what its machine makes
/// available, and the episode ends below 85 %; it thrashes when the time its processes were paused for garbage collection
/// grew by more than 20 % of the wall time over the last <see cref="Window"/>, and the episode ends at 10 % or less.
/// </summary>
/// <remarks>
/// The pause time is the worker daemon's own plus that its executor processes report (see
/// <see cref="WorkerStats.GcPauseSeconds"/>), added up, so two executors each paused 15 % of the time count as 30 %.
/// Not thread-safe: one heartbeat reader feeds it.
/// </remarks>
internal sealed class WorkerPressure
{
    /// <summary>Share of the machine's memory above which a worker is short of memory.</summary>
    public const double MemoryShare = 0.9;

    /// <summary>Share of the machine's memory below which a memory episode ends.</summary>
    public const double MemoryRecoveredShare = 0.85;

    /// <summary>Share of wall time in garbage collection above which a worker thrashes.</summary>
    public const double ThrashingShare = 0.2;

    /// <summary>Share of wall time in garbage collection at or below which a thrashing episode ends.</summary>
    public const double RecoveredShare = 0.1;

    /// <summary>The span of wall time over which the share in garbage collection is measured.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(10);

    private readonly TimeProvider _time;
    private readonly Queue<(long At, double PauseSeconds)> _samples = new();
    private bool _memoryHigh;
    private bool _thrashing;

    /// <param name="time">The clock whose timestamps <see cref="Observe"/> is given.</param>
    public WorkerPressure(TimeProvider time) => _time = time;

    /// <summary>What one report showed: a memory episode began, and a thrashing episode began (with its share of time in GC).</summary>
    public readonly record struct Findings(bool MemoryHigh, double? Thrashing);

    /// <summary>
    /// One report, received at <paramref name="now"/> (a timestamp of the clock): whether it begins an episode of short
    /// memory or of thrashing.
    /// </summary>
    /// <param name="now">When the report arrived.</param>
    /// <param name="stats">The report.</param>
    /// <param name="machineBytes">The machine's memory the worker said at hello, for reports that do not carry it (older workers).</param>
    public Findings Observe(long now, WorkerStats stats, long machineBytes)
        => new(ObserveMemory(stats, stats.MachineMemoryBytes > 0 ? stats.MachineMemoryBytes : machineBytes), ObserveGc(now, stats.GcPauseSeconds));

    private bool ObserveMemory(WorkerStats stats, long machineBytes)
    {
        if (machineBytes <= 0)
        {
            return false;
        }

        var share = (double)stats.WorkingSetBytes / machineBytes;
        if (share < MemoryRecoveredShare)
        {
            _memoryHigh = false;
            return false;
        }

        if (share <= MemoryShare || _memoryHigh)
        {
            return false;
        }

        _memoryHigh = true;
        return true;
    }

    private double? ObserveGc(long now, double pauseSeconds)
    {
        if (_samples.Count > 0 && pauseSeconds < _samples.Last().PauseSeconds)
        {
            // A counter that went back (executors that ended without their last report): measure afresh.
            _samples.Clear();
        }

        _samples.Enqueue((now, pauseSeconds));

        // Keep one sample at least a window old, and none older than needed.
        while (_samples.Count > 2 && _time.GetElapsedTime(_samples.ElementAt(1).At, now) >= Window)
        {
            _samples.Dequeue();
        }

        var (at, paused) = _samples.Peek();
        var span = _time.GetElapsedTime(at, now);
        if (span < Window)
        {
            return null;
        }

        var share = (pauseSeconds - paused) / span.TotalSeconds;
        if (share <= RecoveredShare)
        {
            _thrashing = false;
            return null;
        }

        if (share <= ThrashingShare || _thrashing)
        {
            return null;
        }

        _thrashing = true;
        return share;
    }
}
