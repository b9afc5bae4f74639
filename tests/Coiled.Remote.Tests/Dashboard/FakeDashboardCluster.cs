using Coiled.Remote.Dashboard;

namespace Coiled.Remote.Tests.Dashboard;

/// <summary>A cluster as the dashboard reads it, set by hand.</summary>
internal sealed class FakeDashboardCluster : IDashboardCluster
{
    public List<WorkerSample> Workers { get; } = [];

    public Dictionary<string, int> InFlight { get; } = [];

    public decimal? Cost { get; set; }

    public (double WorkerSeconds, double IdleShare) Time { get; set; }

    public bool IsClosed { get; set; }

    public IReadOnlyList<WorkerSample> DashboardWorkers() => [.. Workers];

    public Dictionary<string, int> TasksInFlight() => new(InFlight);
}
