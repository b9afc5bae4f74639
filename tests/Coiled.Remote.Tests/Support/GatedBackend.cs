using System.Runtime.CompilerServices;

namespace Coiled.Remote.Tests.Support;

/// <summary>
/// Real worker processes (a <see cref="LocalProcessBackend"/>) told to the cluster one by one: the first at once, each
/// other when the test opens its gate (<see cref="Release"/>), or never, when the test fails it (<see cref="Fail"/>), as a
/// cloud backend tells of machines that boot late or not at all.
/// </summary>
internal sealed class GatedBackend(LocalProcessBackend inner, int workers) : IClusterBackend
{
    private readonly TaskCompletionSource[] _gates = [.. Enumerable.Range(0, workers).Select(i => NewGate(open: i == 0))];
    private readonly TaskCompletionSource _allStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string Name => "gated local processes";

    public int DefaultWorkerCount => workers;

    public decimal? Cost => null;

    /// <summary>The worker processes, once all started.</summary>
    public IReadOnlyList<int> ProcessIds { get; private set; } = [];

    /// <summary>Completes when every worker process listens (before any but the first is told to the cluster).</summary>
    public Task AllStarted => _allStarted.Task;

    public void Release(int worker) => _gates[worker].TrySetResult();

    public void Fail(int worker, Exception error) => _gates[worker].TrySetException(error);

    public Task<IReadOnlyList<WorkerEndpoint>> StartWorkersAsync(WorkerLaunch launch, CancellationToken cancellationToken)
        => inner.StartWorkersAsync(launch, cancellationToken);

    public async IAsyncEnumerable<WorkerEndpoint> StartWorkersStreamingAsync(WorkerLaunch launch, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var endpoints = await inner.StartWorkersAsync(launch, cancellationToken);
        ProcessIds = inner.ProcessIds;
        _allStarted.TrySetResult();
        for (var i = 0; i < endpoints.Count; i++)
        {
            await _gates[i].Task.WaitAsync(cancellationToken);
            yield return endpoints[i];
        }
    }

    public ValueTask DisposeAsync() => inner.DisposeAsync();

    private static TaskCompletionSource NewGate(bool open)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (open)
        {
            gate.TrySetResult();
        }

        return gate;
    }
}
