using Coiled.Remote.Scheduling;

namespace Coiled.Remote.Telemetry;

/// <summary>
/// Decides when a cluster warns that it keeps idle workers: the first time, in its life, that a ready worker has held no
/// task for <see cref="ClusterOptions.IdleWarningAfter"/>. It warns once per cluster, naming every worker idle that long.
/// </summary>
internal sealed class IdleWarning
{
    private readonly TimeSpan _after;
    private readonly TimeProvider _time;
    private bool _warned;

    /// <param name="after">How long a worker is idle before the warning (<see cref="ClusterOptions.IdleWarningAfter"/>).</param>
    /// <param name="time">The clock whose timestamps <see cref="Check"/> is given.</param>
    public IdleWarning(TimeSpan after, TimeProvider time)
    {
        _after = after;
        _time = time;
    }

    /// <summary>Whether <paramref name="after"/> asks for warnings at all: zero and <see cref="Timeout.InfiniteTimeSpan"/> do not.</summary>
    public static bool Enabled(TimeSpan after) => after > TimeSpan.Zero;

    /// <summary>
    /// One look at <paramref name="now"/> (a timestamp of the clock) at the workers that hold no task: those idle for
    /// <see cref="ClusterOptions.IdleWarningAfter"/> or longer, the first time there are some; else null.
    /// </summary>
    public IReadOnlyList<Scheduler.IdleWorker>? Check(long now, IReadOnlyList<Scheduler.IdleWorker> idle)
    {
        if (_warned || !Enabled(_after))
        {
            return null;
        }

        var overdue = idle.Where(w => _time.GetElapsedTime(w.IdleSince, now) >= _after).ToList();
        if (overdue.Count == 0)
        {
            return null;
        }

        _warned = true;
        return overdue;
    }
}
