namespace Coiled.Remote.Dashboard;

/// <summary>One call as the dashboard shows it.</summary>
/// <param name="Id">Grows with every call of the cluster.</param>
/// <param name="Method">The method's display name.</param>
/// <param name="Done">Items that returned.</param>
/// <param name="Failed">Items that failed for good.</param>
/// <param name="Total">Items in the call; -1 while a stream's source is still being read.</param>
/// <param name="Rate">Items ended per second: lately while it runs, on average once it ended.</param>
/// <param name="RemainingSeconds">Time left at that rate; null when unknown or ended.</param>
/// <param name="StartedMs">When it started.</param>
/// <param name="EndedMs">When it ended; null while it runs.</param>
/// <param name="Outcome">"completed" or "failed" once it ended; null while it runs.</param>
internal sealed record DashboardCall(
    long Id, string Method, long Done, long Failed, long Total, double Rate, double? RemainingSeconds, double StartedMs, double? EndedMs, string? Outcome);
