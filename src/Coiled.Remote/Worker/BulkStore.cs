using System.Collections.Concurrent;

namespace Coiled.Remote.Worker;

/// <summary>
/// Arguments that arrived on the bulk-data connection, waiting for the task batch that names them (or the other way
/// round: a batch may arrive first and wait for its data).
/// </summary>
internal sealed class BulkStore
{
    private readonly ConcurrentDictionary<ulong, TaskCompletionSource<byte[]>> _blobs = new();

    public void Deliver(ulong id, byte[] data) => Slot(id).TrySetResult(data);

    public async Task<byte[]> TakeAsync(ulong id, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            return await Slot(id).Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new Grpc.Core.RpcException(new Grpc.Core.Status(
                Grpc.Core.StatusCode.DataLoss,
                $"The arguments announced as bulk blob {id} did not arrive on the bulk-data connection within {timeout.TotalSeconds:0} s."));
        }
        finally
        {
            _blobs.TryRemove(id, out _);
        }
    }

    private TaskCompletionSource<byte[]> Slot(ulong id)
        => _blobs.GetOrAdd(id, static _ => new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously));
}
