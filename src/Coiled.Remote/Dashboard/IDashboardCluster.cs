namespace Coiled.Remote.Dashboard;

/// <summary>What the dashboard reads of a running cluster, once a second.</summary>
internal interface IDashboardCluster
{
    /// <summary>Every worker the cluster had, lost ones included, in the order they joined.</summary>
    IReadOnlyList<WorkerSample> DashboardWorkers();

    /// <summary>Tasks in flight on each live worker, by id.</summary>
    Dictionary<string, int> TasksInFlight();

    /// <summary>What the cluster's machines cost so far; null when unknown.</summary>
    decimal? Cost { get; }

    /// <summary>
    /// Seconds each worker was connected, added up, and the share of paid worker-time in which workers held no task
    /// (0 to 1; <see cref="ClusterSummary.IdleShare"/>), read from one summary.
    /// </summary>
    (double WorkerSeconds, double IdleShare) Time { get; }

    /// <summary>Whether the cluster was disposed.</summary>
    bool IsClosed { get; }
}
