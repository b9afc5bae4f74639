namespace Coiled.Remote.Dashboard;

/// <summary>What the dashboard's server asks of the cluster: the page's data, built when asked.</summary>
internal interface IDashboardSource
{
    /// <summary>The page's data now, with the task-stream bars that ended at or after <paramref name="sinceMs"/> (0: all kept).</summary>
    DashboardSnapshot Snapshot(double sinceMs);
}
