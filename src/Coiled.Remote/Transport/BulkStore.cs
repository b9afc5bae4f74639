using System.Collections.Concurrent;

namespace Coiled.Remote.Transport;

/// <summary>
/// Blobs that arrived on a bulk-data connection, waiting for the message that names them (or the other way round: the
/// message may arrive first and wait for its data): task arguments on the worker, result batches on the client. A
/// blob that nothing claims within the arrival timeout (its sender died between the two) is dropped.
/// </summary>
internal sealed class BulkStore(TimeSpan arrivalTimeout, TimeProvider timeProvider)
{
    private readonly ConcurrentDictionary<ulong, Slot> _slots = new();
    private Exception? _broken;

    public BulkStore()
        : this(TimeSpan.FromMinutes(2), TimeProvider.System)
    {
    }

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
        if (Volatile.Read(ref _broken) is { } broken && !slot.Arrival.Task.IsCompleted)
        {
            _slots.TryRemove(KeyValuePair.Create(id, slot));
            throw new IOException($"Bulk blob {id} cannot arrive: {broken.Message}", broken);
        }

        try
        {
            await slot.Arrival.Task.WaitAsync(arrivalTimeout, timeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _slots.TryRemove(KeyValuePair.Create(id, slot));
            throw new Grpc.Core.RpcException(new Grpc.Core.Status(
                Grpc.Core.StatusCode.DataLoss,
                $"The data announced as bulk blob {id} did not arrive on the bulk-data connection within {arrivalTimeout.TotalSeconds:0} s."));
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            _slots.TryRemove(KeyValuePair.Create(id, slot));
            throw;
        }

        // Whoever removes the slot owns the blob: this claim, or the expiry that releases it.
        if (!_slots.TryRemove(KeyValuePair.Create(id, slot)))
        {
            throw new Grpc.Core.RpcException(new Grpc.Core.Status(
                Grpc.Core.StatusCode.DataLoss,
                $"The data of bulk blob {id} was dropped: nothing claimed it within {arrivalTimeout.TotalSeconds:0} s of its arrival, or it was claimed twice."));
        }

        lock (slot)
        {
            slot.Claimed = true;
            slot.Expiry?.Dispose();
        }

        return slot.Arrival.Task.Result;
    }

    /// <summary>
    /// The connection the blobs come on failed: every wait for a blob that has not arrived fails with
    /// <paramref name="error"/>, and so does every later one until <see cref="Reopened"/>.
    /// </summary>
    public void Broke(Exception error)
    {
        Volatile.Write(ref _broken, error);
        foreach (var slot in _slots.Values)
        {
            slot.Arrival.TrySetException(new IOException($"A bulk blob cannot arrive: {error.Message}", error));
        }
    }

    /// <summary>A new connection is open: blobs can arrive again.</summary>
    public void Reopened() => Volatile.Write(ref _broken, null);

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
