namespace Coiled.Remote.Dashboard;

/// <summary>What the dashboard reads of a running <see cref="Cluster"/>.</summary>
internal sealed class ClusterDashboardView(Cluster cluster) : IDashboardCluster
{
    public decimal? Cost => cluster.Cost;

    public (double WorkerSeconds, double IdleShare) Time
    {
        get
        {
            var summary = cluster.Summary;
            return (summary.WorkerSeconds, summary.IdleShare);
        }
    }

    public bool IsClosed => cluster.IsClosed;

    public IReadOnlyList<WorkerSample> DashboardWorkers()
        => [.. cluster.Connections.Select(c => new WorkerSample(
            c.Id, c.State, c.Endpoint.Address, c.Hello.Cores, c.Slots, c.Stats?.CpuSeconds, c.Stats?.WorkingSetBytes, c.Stats?.GcHeapBytes))];

    public Dictionary<string, int> TasksInFlight() => cluster.Scheduler.InFlightByWorker();
}
