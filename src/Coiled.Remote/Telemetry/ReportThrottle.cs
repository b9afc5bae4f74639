namespace Coiled.Remote.Telemetry;

/// <summary>Lets a report through at most once per interval; callers hold their own lock around <see cref="TryPass"/>.</summary>
internal sealed class ReportThrottle(TimeProvider time, TimeSpan interval)
{
    private readonly long _intervalTicks = (long)(interval.TotalSeconds * time.TimestampFrequency);
    private long _next;

    /// <summary>Whether a report may go now; true when <paramref name="force"/> is, and the interval restarts either way.</summary>
    public bool TryPass(bool force)
    {
        var now = time.GetTimestamp();
        if (!force && now < Volatile.Read(ref _next))
        {
            return false;
        }

        Volatile.Write(ref _next, now + _intervalTicks);
        return true;
    }

    /// <summary>A lock-free early answer for hot paths: false means <see cref="TryPass"/> would say no.</summary>
    public bool MayPass => time.GetTimestamp() >= Volatile.Read(ref _next);
}
