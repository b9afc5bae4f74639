namespace Coiled.Remote.Dashboard;

/// <summary>What the dashboard page shows at one moment; every list in it is bounded by <see cref="DashboardLimits"/>.</summary>
/// <param name="NowMs">Milliseconds since the dashboard started, the time scale of every bar, call and error.</param>
/// <param name="State">"starting" until the cluster runs, "running", then "closed".</param>
/// <param name="Backend">The backend's name, e.g. "local processes".</param>
/// <param name="StreamWindowMs">How far back the task stream reaches.</param>
/// <param name="Workers">Live workers first, then those that ended, each with its reason.</param>
/// <param name="Calls">Running calls, then the latest that ended.</param>
/// <param name="Bars">Task-stream bars that ended since the time the page asked for, oldest first.</param>
/// <param name="Errors">The latest items that failed for good, oldest first.</param>
/// <param name="Cost">Cost so far, its rate, and idle worker-time.</param>
internal sealed record DashboardSnapshot(
    double NowMs,
    string State,
    string Backend,
    double StreamWindowMs,
    IReadOnlyList<DashboardWorker> Workers,
    IReadOnlyList<DashboardCall> Calls,
    IReadOnlyList<TaskBar> Bars,
    IReadOnlyList<RecentError> Errors,
    DashboardCost Cost);
