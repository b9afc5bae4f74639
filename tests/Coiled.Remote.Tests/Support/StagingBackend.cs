using System.Runtime.CompilerServices;
using Coiled.Remote.Synchronization;

namespace Coiled.Remote.Tests.Support;

/// <summary>Another backend's workers, with a staging storage they fetch files and large shared values from (as an EC2 cluster's).</summary>
internal sealed class StagingBackend(IClusterBackend inner, IBlobStaging staging) : IClusterBackend, IStagingBackend
{
    public string Name => inner.Name + " with staging";

    public int DefaultWorkerCount => inner.DefaultWorkerCount;

    public decimal? Cost => inner.Cost;

    public IBlobStaging? Staging => staging;

    public Task<IReadOnlyList<WorkerEndpoint>> StartWorkersAsync(WorkerLaunch launch, CancellationToken cancellationToken)
        => inner.StartWorkersAsync(launch, cancellationToken);

    public async IAsyncEnumerable<WorkerEndpoint> StartWorkersStreamingAsync(WorkerLaunch launch, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var endpoint in inner.StartWorkersStreamingAsync(launch, cancellationToken))
        {
            yield return endpoint;
        }
    }

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
