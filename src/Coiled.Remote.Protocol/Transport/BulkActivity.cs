namespace Coiled.Remote.Transport;

/// <summary>
/// What one bulk-data connection is doing, as its reader and writer report it: whether a blob is arriving or being
/// sent, when a byte last moved, and what the blob arriving holds in memory against what of it has arrived.
/// </summary>
/// <param name="time">The clock of <see cref="SinceLastMoved"/>.</param>
/// <param name="framesChanged">Called after a frame starts or ends in either direction (so that a watch can move its deadline); may be null.</param>
internal sealed class BulkActivity(TimeProvider time, Action? framesChanged = null)
{
    private int _arriving;
    private int _sending;
    private long _lastMoved = time.GetTimestamp();
    private long _arrivingHeld;
    private long _arrivingReceived;

    /// <summary>Whether a blob is arriving: its header begun, its last byte not yet read.</summary>
    public bool Arriving => Volatile.Read(ref _arriving) > 0;

    /// <summary>Whether a blob is being sent.</summary>
    public bool Sending => Volatile.Read(ref _sending) > 0;

    /// <summary>How long ago a byte was last received or sent (or the connection was made).</summary>
    public TimeSpan SinceLastMoved => time.GetElapsedTime(Volatile.Read(ref _lastMoved));

    /// <summary>Bytes of pooled arrays the blob arriving holds now; 0 between blobs.</summary>
    public long ArrivingHeld => Volatile.Read(ref _arrivingHeld);

    /// <summary>Bytes of the blob arriving that were received so far; 0 between blobs.</summary>
    public long ArrivingReceived => Volatile.Read(ref _arrivingReceived);

    /// <summary>A blob's first byte was read.</summary>
    public void ArrivalStarted()
    {
        Interlocked.Increment(ref _arriving);
        Touch();
        framesChanged?.Invoke();
    }

    /// <summary>The blob that was arriving is through (or failed): it holds nothing more here.</summary>
    public void ArrivalEnded()
    {
        Volatile.Write(ref _arrivingHeld, 0);
        Volatile.Write(ref _arrivingReceived, 0);
        Interlocked.Decrement(ref _arriving);
        Touch();
        framesChanged?.Invoke();
    }

    /// <summary>A blob's writing began.</summary>
    public void SendStarted()
    {
        Interlocked.Increment(ref _sending);
        Touch();
        framesChanged?.Invoke();
    }

    /// <summary>A blob that was being written is through (or failed).</summary>
    public void SendEnded()
    {
        Interlocked.Decrement(ref _sending);
        Touch();
        framesChanged?.Invoke();
    }

    /// <summary>Bytes of the blob arriving were read.</summary>
    public void Received(int bytes)
    {
        Interlocked.Add(ref _arrivingReceived, bytes);
        Touch();
    }

    /// <summary>Bytes other than the blob arriving's (a header, a piece of a blob sent) were read or written.</summary>
    public void Moved() => Touch();

    /// <summary>The arrays the blob arriving holds now come to <paramref name="bytes"/>.</summary>
    public void Holding(long bytes) => Volatile.Write(ref _arrivingHeld, bytes);

    private void Touch() => Volatile.Write(ref _lastMoved, time.GetTimestamp());
}
