namespace Coiled.Remote;

/// <summary>Workers someone else started: the cluster connects to them and leaves them running when it closes.</summary>
internal sealed class ConnectedBackend(IReadOnlyList<WorkerEndpoint> endpoints) : IClusterBackend
{
    private readonly IReadOnlyList<WorkerEndpoint> _endpoints = [.. endpoints.Select(e => e with { StartedByHand = true })];

    public string Name => "workers started by hand";

    public int DefaultWorkerCount => _endpoints.Count;

    public decimal? Cost => null;

    public Task<IReadOnlyList<WorkerEndpoint>> StartWorkersAsync(WorkerLaunch launch, CancellationToken cancellationToken)
        => Task.FromResult(_endpoints);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
