using Coiled.Remote.Scheduling;

namespace Coiled.Remote.Dashboard;

/// <summary>
/// One call as the dashboard follows it: counts added a batch at a time by the workers' receive loops (lock-free),
/// and the rate and time remaining the dashboard works out from them once a second. It holds its job only while the
/// call runs, so that an ended call's results are never kept alive by the dashboard.
/// </summary>
internal sealed class CallRecord
{
    private readonly string _method;
    private Job? _job;
    private long _endedTotal;
    private long _done;
    private long _failed;
    private double _rate;
    private long _lastEnded;
    private double _lastMs;

    public CallRecord(long id, Job job, double startedMs)
    {
        Id = id;
        _job = job;
        _method = job.Stub.DisplayName;
        StartedMs = startedMs;
        _lastMs = startedMs;
    }

    public long Id { get; }

    /// <summary>Where the call is in the recorder's list of running calls; null once it ended (recorder lock).</summary>
    public LinkedListNode<CallRecord>? Node { get; set; }

    public string Method => _method;

    public double StartedMs { get; }

    /// <summary>When the call ended, or null while it runs.</summary>
    public double? EndedMs { get; private set; }

    /// <summary>How it ended: "completed", "failed", or null while it runs.</summary>
    public string? Outcome { get; private set; }

    public long Done => Interlocked.Read(ref _done);

    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Items in the call, or -1 while a stream's source is still being read.</summary>
    public long Total => Volatile.Read(ref _job) is { } job ? job.TotalItems : Interlocked.Read(ref _endedTotal);

    /// <summary>Items ended per second, smoothed; set by <see cref="Sample"/>.</summary>
    public double Rate => Volatile.Read(ref _rate);

    public void AddDone(long count) => Interlocked.Add(ref _done, count);

    public void AddFailed(long count) => Interlocked.Add(ref _failed, count);

    /// <summary>The call ended (once): what is shown of it is kept, and the job, which holds its results, let go.</summary>
    public void End(double nowMs)
    {
        var job = _job!;
        Interlocked.Exchange(ref _endedTotal, job.TotalItems);
        Outcome = job.EndedWithEveryItem ? "completed" : "failed";
        EndedMs = nowMs;
        Volatile.Write(ref _job, null);
    }

    /// <summary>Updates <see cref="Rate"/> from the items ended since the last sample (the dashboard's one reader).</summary>
    public void Sample(double nowMs)
    {
        if (EndedMs is not null)
        {
            return;
        }

        var ended = Done + Failed;
        var elapsed = nowMs - _lastMs;
        if (elapsed < 200)
        {
            return;
        }

        var instant = (ended - _lastEnded) * 1000 / elapsed;

        // The first sample sets the rate; later ones move it part of the way, so that one slow second does not swing it.
        var rate = _lastEnded == 0 && _rate == 0 ? instant : (0.5 * _rate) + (0.5 * instant);
        Volatile.Write(ref _rate, rate);
        _lastEnded = ended;
        _lastMs = nowMs;
    }
}
