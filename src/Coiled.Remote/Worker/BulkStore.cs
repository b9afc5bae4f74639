using System.Collections.Concurrent;

namespace Coiled.Remote.Worker;

/// <summary>
/// Arguments that arrived on the bulk-data connection, waiting for the task batch that names them (or the other way
/// round: a batch may arrive first and wait for its data). A blob that no batch claims within the arrival timeout
/// (its client died between the two) is dropped.
/// </summary>
internal sealed class BulkStore(TimeSpan arrivalTimeout, TimeProvider timeProvider)
{
    private readonly ConcurrentDictionary<ulong, Slot> _slots = new();

    public BulkStore()
        : this(TimeSpan.FromMinutes(2), TimeProvider.System)
    {
    }

    /// <summary>How long a batch waits for its blob, and a blob for its batch.</summary>
    public TimeSpan ArrivalTimeout => arrivalTimeout;

    /// <summary>Blobs delivered and not yet claimed, and batches waiting for theirs.</summary>
    public int Count => _slots.Count;

    /// <summary>Hands over a blob; the store holds its buffer until a batch claims it or the arrival timeout passes.</summary>
    public void Deliver(ulong id, BulkBlob blob)
    {
        var slot = SlotOf(id);
        lock (slot)
        {
            if (!slot.Arrival.TrySetResult(blob))
            {
                // The same id twice: the first one stands.
                blob.Buffer.Release();
                return;
            }

            if (!slot.Claimed)
            {
                slot.Expiry = timeProvider.CreateTimer(static state => ((Expiring)state!).Expire(), new Expiring(this, id, slot), arrivalTimeout, Timeout.InfiniteTimeSpan);
            }
        }
    }

    /// <summary>Claims the blob named by a batch, waiting for it to arrive; the caller then holds its buffer.</summary>
    public async Task<BulkBlob> TakeAsync(ulong id, CancellationToken cancellationToken)
    {
        var slot = SlotOf(id);
        try
        {
            await slot.Arrival.Task.WaitAsync(arrivalTimeout, timeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _slots.TryRemove(KeyValuePair.Create(id, slot));
            throw new Grpc.Core.RpcException(new Grpc.Core.Status(
                Grpc.Core.StatusCode.DataLoss,
                $"The arguments announced as bulk blob {id} did not arrive on the bulk-data connection within {arrivalTimeout.TotalSeconds:0} s."));
        }
        catch (OperationCanceledException)
        {
            _slots.TryRemove(KeyValuePair.Create(id, slot));
            throw;
        }

        // Whoever removes the slot owns the blob: this claim, or the expiry that releases it.
        if (!_slots.TryRemove(KeyValuePair.Create(id, slot)))
        {
            throw new Grpc.Core.RpcException(new Grpc.Core.Status(
                Grpc.Core.StatusCode.DataLoss,
                $"The arguments of bulk blob {id} were dropped: no batch claimed them within {arrivalTimeout.TotalSeconds:0} s of their arrival, or a batch claimed them twice."));
        }

        lock (slot)
        {
            slot.Claimed = true;
            slot.Expiry?.Dispose();
        }

        return slot.Arrival.Task.Result;
    }

    private Slot SlotOf(ulong id) => _slots.GetOrAdd(id, static _ => new Slot());

    /// <summary>One blob id: its arrival, and the timer that drops the blob if no batch claims it.</summary>
    private sealed class Slot
    {
        public TaskCompletionSource<BulkBlob> Arrival { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ITimer? Expiry { get; set; }

        public bool Claimed { get; set; }
    }

    /// <summary>The expiry of a delivered blob that no batch claimed.</summary>
    private sealed class Expiring(BulkStore store, ulong id, Slot slot)
    {
        public void Expire()
        {
            lock (slot)
            {
                slot.Expiry?.Dispose();
            }

            if (store._slots.TryRemove(KeyValuePair.Create(id, slot)))
            {
                slot.Arrival.Task.Result.Buffer.Release();
            }
        }
    }
}
