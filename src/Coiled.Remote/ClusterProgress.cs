namespace Coiled.Remote;

/// <summary>A snapshot of what a cluster is doing, reported through <see cref="ClusterOptions.Progress"/>.</summary>
/// <param name="Phase">What the cluster is doing now, e.g. "starting workers", "synchronizing", "running".</param>
/// <param name="WorkersReady">Workers connected and synchronized.</param>
/// <param name="WorkersRequested">Workers the cluster asked for.</param>
/// <param name="TasksQueued">Tasks waiting for a worker.</param>
/// <param name="TasksRunning">Tasks sent to a worker and not yet finished.</param>
/// <param name="TasksDone">Tasks that returned a result since the cluster started.</param>
/// <param name="TasksFailed">Tasks that ended with an error since the cluster started.</param>
public sealed record ClusterProgress(
    string Phase,
    int WorkersReady,
    int WorkersRequested,
    long TasksQueued,
    long TasksRunning,
    long TasksDone,
    long TasksFailed);
