using System.Collections.Concurrent;
using Grpc.Core;

namespace Coiled.Remote.Transport;

/// <summary>
/// Blobs that arrived on a bulk-data connection, waiting for the message that names them (or the other way round: the
/// message may arrive first and wait for its data): task arguments on the worker, result batches on the client. A
/// blob that nothing claims within the arrival timeout (its sender died between the two) is dropped. The bytes of
/// blobs delivered and not yet claimed are capped: a blob that would pass the cap is refused, and the message that
/// names it fails with <see cref="StatusCode.ResourceExhausted"/> saying why.
/// </summary>
/// <param name="arrivalTimeout">How long a blob waits for its message, and a message for its blob.</param>
/// <param name="timeProvider">The clock of <paramref name="arrivalTimeout"/>.</param>
/// <param name="maxUnclaimedBytes">The most bytes of blobs delivered that no message has claimed yet.</param>
internal sealed class BulkStore(TimeSpan arrivalTimeout, TimeProvider timeProvider, long maxUnclaimedBytes = long.MaxValue)
{
    /// <summary>The default of <c>arrivalTimeout</c>.</summary>
    public static readonly TimeSpan DefaultArrivalTimeout = TimeSpan.FromMinutes(2);

    private readonly ConcurrentDictionary<ulong, Slot> _slots = new();
    private long _unclaimedBytes;
    private Exception? _broken;

    public BulkStore()
        : this(DefaultArrivalTimeout, TimeProvider.System)
    {
    }

    /// <summary>Blobs delivered and not yet claimed, and batches waiting for theirs.</summary>
    public int Count => _slots.Count;

    /// <summary>Bytes of the blobs delivered that no message has claimed yet (a message already waiting claims its blob as it arrives).</summary>
    public long UnclaimedBytes => Interlocked.Read(ref _unclaimedBytes);

    /// <summary>
    /// Whether a blob of <paramref name="length"/> bytes announced as <paramref name="id"/> fits under the cap of
    /// unclaimed bytes (or a message already waits for it); if not, it is refused now, before its bytes are read.
    /// </summary>
    public bool Admits(ulong id, long length)
    {
        if (_slots.TryGetValue(id, out var waited) && waited.Waiting)
        {
            return true;
        }

        var unclaimed = UnclaimedBytes;
        if (unclaimed + length <= maxUnclaimedBytes)
        {
            return true;
        }

        Refuse(id, length, unclaimed);
        return false;
    }

    /// <summary>
    /// Hands over a blob; the store holds its buffer until a batch claims it or the arrival timeout passes. A blob
    /// that no message waits for and that would take the unclaimed bytes past the cap is refused and its buffer released.
    /// </summary>
    public void Deliver(ulong id, BulkPayload payload)
    {
        var slot = SlotOf(id);
        lock (slot)
        {
            if (slot.Arrival.Task.IsCompleted)
            {
                // The same id twice, or one refused: the first one stands.
                payload.Buffer.Release();
                return;
            }

            if (!slot.Waiting)
            {
                var unclaimed = Interlocked.Add(ref _unclaimedBytes, payload.Length);
                if (unclaimed > maxUnclaimedBytes)
                {
                    Interlocked.Add(ref _unclaimedBytes, -payload.Length);
                    payload.Buffer.Release();
                    RefuseLocked(id, slot, payload.Length, unclaimed - payload.Length);
                    return;
                }

                slot.Counted = payload.Length;
            }

            slot.Arrival.TrySetResult(payload);
            if (!slot.Claimed)
            {
                slot.Expiry = timeProvider.CreateTimer(static state => ((Expiring)state!).Expire(), new Expiring(this, id, slot), arrivalTimeout, Timeout.InfiniteTimeSpan);
            }
        }
    }

    /// <summary>Claims the blob named by a batch, waiting for it to arrive; the caller then holds its buffer.</summary>
    /// <exception cref="RpcException">
    /// <see cref="StatusCode.DataLoss"/>: it did not arrive in time, or was dropped; <see cref="StatusCode.ResourceExhausted"/>:
    /// it was refused for the cap of unclaimed bytes.
    /// </exception>
    public async Task<BulkPayload> TakeAsync(ulong id, CancellationToken cancellationToken)
    {
        var slot = SlotOf(id);
        if (Volatile.Read(ref _broken) is { } broken && !slot.Arrival.Task.IsCompleted)
        {
            _slots.TryRemove(KeyValuePair.Create(id, slot));
            throw new IOException($"Bulk blob {id} cannot arrive: {broken.Message}", broken);
        }

        lock (slot)
        {
            slot.Waiting = true;
        }

        try
        {
            await slot.Arrival.Task.WaitAsync(arrivalTimeout, timeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _slots.TryRemove(KeyValuePair.Create(id, slot));
            throw new RpcException(new Status(
                StatusCode.DataLoss,
                $"The data announced as bulk blob {id} did not arrive on the bulk-data connection within {arrivalTimeout.TotalSeconds:0} s."));
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or RpcException)
        {
            _slots.TryRemove(KeyValuePair.Create(id, slot));
            throw;
        }

        // Whoever removes the slot owns the blob: this claim, or the expiry that releases it.
        if (!_slots.TryRemove(KeyValuePair.Create(id, slot)))
        {
            throw new RpcException(new Status(
                StatusCode.DataLoss,
                $"The data of bulk blob {id} was dropped: nothing claimed it within {arrivalTimeout.TotalSeconds:0} s of its arrival, or it was claimed twice."));
        }

        lock (slot)
        {
            slot.Claimed = true;
            slot.Expiry?.Dispose();
            Interlocked.Add(ref _unclaimedBytes, -slot.Counted);
            slot.Counted = 0;
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

    /// <summary>Refuses a blob for the cap: the message that names it, now or within the arrival timeout, fails saying why.</summary>
    private void Refuse(ulong id, long length, long unclaimed)
    {
        var slot = SlotOf(id);
        lock (slot)
        {
            RefuseLocked(id, slot, length, unclaimed);
        }
    }

    /// <summary>See <see cref="Refuse"/>; the slot's lock is held.</summary>
    private void RefuseLocked(ulong id, Slot slot, long length, long unclaimed)
    {
        var refusal = new RpcException(new Status(
            StatusCode.ResourceExhausted,
            $"The worker refused the {length:N0} bytes of bulk blob {id}: blobs that arrived on bulk-data connections and that no task batch has claimed " +
            $"already hold {unclaimed:N0} of the {maxUnclaimedBytes:N0} bytes a worker keeps for them (an unclaimed blob is dropped after {arrivalTimeout.TotalSeconds:0} s). " +
            "Send the task batch that names each blob right after it; for a large input that many tasks share, use Cluster.ShareAsync."));
        if (slot.Arrival.TrySetException(refusal))
        {
            // Nothing may ever look at a refusal whose batch never comes.
            _ = slot.Arrival.Task.Exception;
            slot.Expiry ??= timeProvider.CreateTimer(static state => ((Expiring)state!).Expire(), new Expiring(this, id, slot), arrivalTimeout, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>One blob id: its arrival, and the timer that drops the blob if no batch claims it.</summary>
    private sealed class Slot
    {
        public TaskCompletionSource<BulkPayload> Arrival { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ITimer? Expiry { get; set; }

        /// <summary>Whether a message waits for the blob (so it is claimed as it arrives and never counts as unclaimed).</summary>
        public bool Waiting { get; set; }

        public bool Claimed { get; set; }

        /// <summary>Bytes this blob adds to the store's unclaimed bytes.</summary>
        public long Counted { get; set; }
    }

    /// <summary>The expiry of a delivered blob that no batch claimed, or of a refusal that no batch came for.</summary>
    private sealed class Expiring(BulkStore store, ulong id, Slot slot)
    {
        public void Expire()
        {
            // Whoever removes the slot owns what it holds: this expiry, or the claim that came first.
            var removed = store._slots.TryRemove(KeyValuePair.Create(id, slot));
            long counted = 0;
            lock (slot)
            {
                slot.Expiry?.Dispose();
                if (removed)
                {
                    counted = slot.Counted;
                    slot.Counted = 0;
                }
            }

            if (removed)
            {
                Interlocked.Add(ref store._unclaimedBytes, -counted);
                if (slot.Arrival.Task.IsCompletedSuccessfully)
                {
                    slot.Arrival.Task.Result.Buffer.Release();
                }
            }
        }
    }
}
