using System.Collections.Concurrent;

namespace Coiled.Remote.Worker;

/// <summary>
/// Arguments that arrived on the bulk-data connection, waiting for the task batch that names them (or the other way
/// round: a batch may arrive first and wait for its data). A blob that no batch claims within the arrival timeout
/// (its client died between the two) is dropped.
/// </summary>
internal sealed class BulkStore(TimeSpan arrivalTimeout, TimeProvider timeProvider)
{
    private readonly ConcurrentDictionary<ulong, TaskCompletionSource<BulkBlob>> _blobs = new();

    public BulkStore()
        : this(TimeSpan.FromMinutes(2), TimeProvider.System)
    {
    }

    /// <summary>How long a batch waits for its blob, and a blob for its batch.</summary>
    public TimeSpan ArrivalTimeout => arrivalTimeout;

    /// <summary>Blobs delivered and not yet claimed, and batches waiting for theirs.</summary>
    public int Count => _blobs.Count;

    /// <summary>Hands over a blob; the store holds its buffer until a batch claims it or the arrival timeout passes.</summary>
    public void Deliver(ulong id, BulkBlob blob)
    {
        var slot = Slot(id);
        if (!slot.TrySetResult(blob))
        {
            // The same id twice: the first one stands.
            blob.Buffer.Release();
            return;
        }

        ITimer? timer = null;
        timer = timeProvider.CreateTimer(
            _ =>
            {
                timer?.Dispose();
                if (_blobs.TryRemove(KeyValuePair.Create(id, slot)))
                {
                    blob.Buffer.Release();
                }
            },
            null,
            arrivalTimeout,
            Timeout.InfiniteTimeSpan);
    }

    /// <summary>Claims the blob named by a batch, waiting for it to arrive; the caller then holds its buffer.</summary>
    public async Task<BulkBlob> TakeAsync(ulong id, CancellationToken cancellationToken)
    {
        var slot = Slot(id);
        try
        {
            await slot.Task.WaitAsync(arrivalTimeout, timeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _blobs.TryRemove(KeyValuePair.Create(id, slot));
            throw new Grpc.Core.RpcException(new Grpc.Core.Status(
                Grpc.Core.StatusCode.DataLoss,
                $"The arguments announced as bulk blob {id} did not arrive on the bulk-data connection within {arrivalTimeout.TotalSeconds:0} s."));
        }
        catch (OperationCanceledException)
        {
            _blobs.TryRemove(KeyValuePair.Create(id, slot));
            throw;
        }

        // Whoever removes the slot owns the blob: this claim, or the expiry timer that releases it.
        if (!_blobs.TryRemove(KeyValuePair.Create(id, slot)))
        {
            throw new Grpc.Core.RpcException(new Grpc.Core.Status(
                Grpc.Core.StatusCode.DataLoss,
                $"The arguments of bulk blob {id} were dropped: no batch claimed them within {arrivalTimeout.TotalSeconds:0} s of their arrival, or a batch claimed them twice."));
        }

        return slot.Task.Result;
    }

    private TaskCompletionSource<BulkBlob> Slot(ulong id)
        => _blobs.GetOrAdd(id, static _ => new TaskCompletionSource<BulkBlob>(TaskCreationOptions.RunContinuationsAsynchronously));
}
