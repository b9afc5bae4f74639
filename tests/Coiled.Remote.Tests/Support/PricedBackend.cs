namespace Coiled.Remote.Tests.Support;

/// <summary>
/// In-process workers priced as a cloud backend prices its machines: each costs <paramref name="hourly"/> dollars an
/// hour, and the machines were paid for <see cref="PaidSeconds"/> (which the test sets), as EC2 pays for boot time.
/// </summary>
internal sealed class PricedBackend(decimal hourly) : IClusterBackend, IBillingBackend
{
    private readonly InProcessBackend _inner = new() { SlotsPerWorker = 1 };

    public string Name => "priced in-process workers";

    public int DefaultWorkerCount => 2;

    public decimal? Cost { get; set; }

    public double PaidSeconds { get; set; }

    public decimal? HourlyCost(WorkerEndpoint endpoint) => hourly;

    public Task<IReadOnlyList<WorkerEndpoint>> StartWorkersAsync(WorkerLaunch launch, CancellationToken cancellationToken)
        => _inner.StartWorkersAsync(launch, cancellationToken);

    public ValueTask DisposeAsync() => _inner.DisposeAsync();
}
