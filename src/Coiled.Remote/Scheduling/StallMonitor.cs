using System.Diagnostics;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// Notices when this process itself cannot keep up, so that a worker is not declared lost for heartbeats that arrived
/// and wait unread: the process was held up (a blocking garbage collection, a debugger, a stopped or starved machine),
/// or its thread pool has a backlog, since heartbeats are read on the thread pool. A process-wide thread of its own,
/// outside the pool, checks a few times a second that it woke on time and that a probe it queued to the pool has run.
/// </summary>
internal sealed class StallMonitor
{
    /// <summary>A delay at least this long counts as a stall.</summary>
    public static readonly TimeSpan Threshold = TimeSpan.FromMilliseconds(500);

    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(100);
    private static readonly Lazy<StallMonitor> Shared = new(StartShared);

    private long _lastStalled;
    private long _lastTick;
    private long _probeQueued;

    /// <summary>The monitor of this process, started on first use.</summary>
    public static StallMonitor Process => Shared.Value;

    /// <summary>
    /// The monitor for waits on <paramref name="time"/>: this process's when it is the system clock, whose timestamps the
    /// monitor's are; none for any other clock (a test's), whose timestamps cannot be compared with them.
    /// </summary>
    public static StallMonitor? For(TimeProvider time) => time == TimeProvider.System ? Process : null;

    /// <summary>The <see cref="Stopwatch"/> timestamp of the latest moment this process was seen stalled; 0 if never.</summary>
    public long LastStalled => Volatile.Read(ref _lastStalled);

    /// <summary>
    /// One check at <paramref name="now"/>: whether the checking thread woke late, and whether the probe queued at an
    /// earlier check is overdue. Answers whether a new probe should be queued (none is pending).
    /// </summary>
    public bool Tick(long now)
    {
        var last = Interlocked.Exchange(ref _lastTick, now);
        if (last != 0 && Stopwatch.GetElapsedTime(last, now) - Period >= Threshold)
        {
            Volatile.Write(ref _lastStalled, now);
        }

        var queued = Volatile.Read(ref _probeQueued);
        if (queued == 0)
        {
            Volatile.Write(ref _probeQueued, now);
            return true;
        }

        if (Stopwatch.GetElapsedTime(queued, now) >= Threshold)
        {
            Volatile.Write(ref _lastStalled, now);
        }

        return false;
    }

    /// <summary>The probe queued at the last check ran at <paramref name="now"/>.</summary>
    public void ProbeRan(long now)
    {
        var queued = Volatile.Read(ref _probeQueued);
        if (queued != 0 && Stopwatch.GetElapsedTime(queued, now) >= Threshold)
        {
            Volatile.Write(ref _lastStalled, now);
        }

        Volatile.Write(ref _probeQueued, 0);
    }

    private static StallMonitor StartShared()
    {
        var monitor = new StallMonitor();
        var thread = new Thread(() => monitor.Run()) { IsBackground = true, Name = "Coiled.Remote stall monitor" };
        thread.Start();
        return monitor;
    }

    private void Run()
    {
        while (true)
        {
            Thread.Sleep(Period);
            if (Tick(Stopwatch.GetTimestamp()))
            {
                ThreadPool.UnsafeQueueUserWorkItem(static monitor => monitor.ProbeRan(Stopwatch.GetTimestamp()), this, preferLocal: false);
            }
        }
    }
}
