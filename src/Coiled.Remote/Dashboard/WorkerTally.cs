namespace Coiled.Remote.Dashboard;

/// <summary>What the <see cref="DashboardRecorder"/> counts of one worker, under its lock.</summary>
internal sealed class WorkerTally
{
    private int _lane;

    /// <summary>Tasks the worker ran.</summary>
    public long Done { get; set; }

    /// <summary>How the worker ended; null while it is live.</summary>
    public string? Ended { get; set; }

    /// <summary>The slot the next bar goes to: batches are spread over the worker's slots in turn.</summary>
    public int NextLane(int slots)
    {
        var lanes = Math.Clamp(slots, 1, DashboardLimits.LanesPerWorker);
        _lane = (_lane + 1) % lanes;
        return _lane;
    }
}
