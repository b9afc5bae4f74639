using Coiled.Remote.Synchronization;

namespace Coiled.Remote;

/// <summary>What a running cluster needs to bring a new worker to the same state as the first ones.</summary>
internal sealed record ClusterSession(
    string Token,
    WorkerLaunch Launch,
    ApplicationFolder? Application,
    IReadOnlyDictionary<string, string> Variables,
    SyncReport Sync);
