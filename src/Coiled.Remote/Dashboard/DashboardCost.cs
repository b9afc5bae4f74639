namespace Coiled.Remote.Dashboard;

/// <summary>What the cluster costs, as the dashboard shows it.</summary>
/// <param name="Dollars">What its machines cost so far, in US dollars; null when the backend does not know prices.</param>
/// <param name="DollarsPerHour">What they cost now per hour, from the last minute; null when unknown.</param>
/// <param name="WorkerSeconds">Seconds each worker was connected, added up.</param>
/// <param name="IdleShare">Share of paid worker-time in which workers held no task (0 to 1, <see cref="ClusterSummary.IdleShare"/>); null before the cluster runs.</param>
internal sealed record DashboardCost(decimal? Dollars, decimal? DollarsPerHour, double WorkerSeconds, double? IdleShare);
