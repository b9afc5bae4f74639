namespace Coiled.Remote.Telemetry;

/// <summary>
/// Counts one call's ended items and reports <see cref="MapProgress"/>: throttled to <see cref="Interval"/>, in order,
/// and once more, finally, when every item has ended or the call ends otherwise. Nothing is reported after the final one.
/// </summary>
internal sealed class MapProgressTracker
{
    internal static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);

    private readonly IProgress<MapProgress> _progress;
    private readonly TimeProvider _time;
    private readonly ReportThrottle _throttle;
    private readonly long _started;
    private readonly object _lock = new();
    private long _done;
    private long _failed;
    private long _total;
    private bool _ended;

    /// <param name="progress">Where reports go.</param>
    /// <param name="total">Items in the call, or -1 while unknown (streams).</param>
    /// <param name="time">The clock for rates and throttling.</param>
    public MapProgressTracker(IProgress<MapProgress> progress, long total, TimeProvider time)
    {
        _progress = progress;
        _time = time;
        _total = total;
        _throttle = new ReportThrottle(time, Interval);
        _started = time.GetTimestamp();
    }

    public void SetTotal(long total)
    {
        Interlocked.Exchange(ref _total, total);
        Maybe();
    }

    public void OnDone()
    {
        Interlocked.Increment(ref _done);
        Maybe();
    }

    public void OnFailed()
    {
        Interlocked.Increment(ref _failed);
        Maybe();
    }

    /// <summary>The call ended: sends the final report unless it went already.</summary>
    public void Complete() => Report(final: true);

    private void Maybe()
    {
        var total = Interlocked.Read(ref _total);
        var ended = Interlocked.Read(ref _done) + Interlocked.Read(ref _failed);
        if (total >= 0 && ended >= total)
        {
            Report(final: true);
        }
        else if (_throttle.MayPass)
        {
            Report(final: false);
        }
    }

    private void Report(bool final)
    {
        lock (_lock)
        {
            if (_ended || !_throttle.TryPass(final))
            {
                return;
            }

            _ended = final;
            var done = Interlocked.Read(ref _done);
            var failed = Interlocked.Read(ref _failed);
            var total = Interlocked.Read(ref _total);
            var elapsed = _time.GetElapsedTime(_started).TotalSeconds;
            var rate = elapsed > 0 ? (done + failed) / elapsed : 0;
            TimeSpan? remaining = total >= 0 && rate > 0 ? TimeSpan.FromSeconds(Math.Max(0, total - done - failed) / rate) : null;
            _progress.Report(new MapProgress(done, failed, total, rate, remaining));
        }
    }
}
