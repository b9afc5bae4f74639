namespace Coiled.Remote.Scheduling;

/// <summary>
/// How long one worker was busy, and since when it is idle: busy while it holds at least one task (sent to it and its
/// outcome not yet back), idle otherwise. Kept by the worker's <see cref="WorkerTasks"/>, under the scheduler's lock.
/// </summary>
internal sealed class BusyClock
{
    private readonly TimeProvider _time;
    private TimeSpan _busy;
    private long _since;
    private bool _isBusy;

    /// <param name="time">The cluster's clock; the worker is idle from now.</param>
    public BusyClock(TimeProvider time)
    {
        _time = time;
        _since = time.GetTimestamp();
    }

    /// <summary>Whether the worker holds a task now.</summary>
    public bool IsBusy => _isBusy;

    /// <summary>The timestamp (of the cluster's clock) since which the worker held no task; null while it holds one.</summary>
    public long? IdleSince => _isBusy ? null : _since;

    /// <summary>Time the worker was busy so far, the current stretch included.</summary>
    public TimeSpan Busy(long now) => _isBusy ? _busy + _time.GetElapsedTime(_since, now) : _busy;

    /// <summary>The worker now holds <paramref name="tasks"/> tasks: a stretch of busy or idle time starts when that changes the state.</summary>
    public void Holding(int tasks)
    {
        var busy = tasks > 0;
        if (busy == _isBusy)
        {
            return;
        }

        var now = _time.GetTimestamp();
        if (_isBusy)
        {
            _busy += _time.GetElapsedTime(_since, now);
        }

        _isBusy = busy;
        _since = now;
    }
}
