using Coiled.Remote.Synchronization;

namespace Coiled.Remote;

/// <summary>
/// What a running cluster needs to bring a new worker to the same state as the first ones; the workers' token is
/// <see cref="WorkerLaunch.Token"/>.
/// </summary>
internal sealed record ClusterSession(
    WorkerLaunch Launch,
    ApplicationFolder? Application,
    IReadOnlyDictionary<string, string> Variables,
    SyncReport Sync);
