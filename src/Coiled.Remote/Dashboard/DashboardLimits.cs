namespace Coiled.Remote.Dashboard;

/// <summary>
/// What the dashboard keeps and sends at most, so that a map of millions of items or a cluster of many workers
/// neither grows the caller's memory nor floods the page: every snapshot is a few hundred kilobytes at most.
/// </summary>
internal static class DashboardLimits
{
    /// <summary>How far back the task stream reaches.</summary>
    public static readonly TimeSpan StreamWindow = TimeSpan.FromMinutes(3);

    /// <summary>Two batches on one slot closer than this in time, of the same method, are one bar.</summary>
    public const double MergeGapMs = 250;

    /// <summary>Bars kept; the oldest go first.</summary>
    public const int BarsKept = 8192;

    /// <summary>Bars sent in one snapshot: the latest ones.</summary>
    public const int BarsSent = 2000;

    /// <summary>Failed items kept and sent: the latest ones.</summary>
    public const int ErrorsKept = 20;

    public const int MessageChars = 500;

    public const int StackLines = 4;

    public const int StackLineChars = 200;

    /// <summary>Workers sent: every live one up to this, then the most recently ended.</summary>
    public const int WorkersSent = 256;

    /// <summary>Calls sent: running ones first, then those that ended most recently.</summary>
    public const int CallsSent = 20;

    /// <summary>Ended calls kept to show.</summary>
    public const int EndedCallsKept = 10;

    /// <summary>Lanes drawn per worker, however many slots it has.</summary>
    public const int LanesPerWorker = 64;
}
