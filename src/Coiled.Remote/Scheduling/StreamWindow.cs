namespace Coiled.Remote.Scheduling;

/// <summary>
/// What one stream holds between its source and its consumer, and when it may read more: fewer than
/// <see cref="MaxItems"/> items, and fewer than <see cref="MaxBytes"/> bytes in flight, counting each item's serialized
/// arguments from when it is read until it completes and its serialized result from then until the consumer takes it.
/// The item read while the window is below its byte limit is admitted whatever its size, so the bytes in flight stay
/// under <see cref="MaxBytes"/> plus one item, and an item larger than the whole window still goes through.
/// </summary>
/// <remarks>
/// The source side calls <see cref="TryReserve"/> or <see cref="ReserveAsync"/> before reading an item and
/// <see cref="OnArguments"/> once it is serialized; the receive loops call <see cref="OnCompleted"/>; the consumer calls
/// <see cref="OnTaken"/>. Each item index is reserved, serialized, completed and taken once, in that order.
/// </remarks>
internal sealed class StreamWindow
{
    private readonly object _lock = new();
    private readonly AsyncSignal _room = new();
    private readonly int[] _argumentBytes;
    private readonly int[] _resultBytes;
    private long _reserved;
    private long _taken;
    private long _bytes;
    private long _peakBytes;
    private long _peakItems;
    private bool _waiting;

    /// <param name="maxItems">Most items between reading from the source and handing the result to the consumer.</param>
    /// <param name="maxBytes">The bytes in flight below which another item may be read.</param>
    public StreamWindow(int maxItems, long maxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxItems, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1);
        MaxItems = maxItems;
        MaxBytes = maxBytes;
        _argumentBytes = new int[maxItems];
        _resultBytes = new int[maxItems];
    }

    /// <summary>Most items between reading from the source and handing the result to the consumer.</summary>
    public int MaxItems { get; }

    /// <summary>Another item is read only while fewer bytes than this are in flight.</summary>
    public long MaxBytes { get; }

    /// <summary>Serialized arguments of items read and not completed, plus serialized results not yet taken, now.</summary>
    public long BytesInFlight
    {
        get
        {
            lock (_lock)
            {
                return _bytes;
            }
        }
    }

    /// <summary>The most <see cref="BytesInFlight"/> ever was.</summary>
    public long PeakBytes
    {
        get
        {
            lock (_lock)
            {
                return _peakBytes;
            }
        }
    }

    /// <summary>The most items ever reserved and not yet taken by the consumer.</summary>
    public long PeakItems
    {
        get
        {
            lock (_lock)
            {
                return _peakItems;
            }
        }
    }

    /// <summary>Reserves room for the next item from the source if the window has room now.</summary>
    public bool TryReserve()
    {
        lock (_lock)
        {
            if (!HasRoom())
            {
                _waiting = true;
                return false;
            }

            _reserved++;
            _peakItems = Math.Max(_peakItems, _reserved - _taken);
            return true;
        }
    }

    /// <summary>Waits until the window has room for the next item from the source, and reserves it.</summary>
    public async Task ReserveAsync(CancellationToken cancellationToken)
    {
        while (!TryReserve())
        {
            await _room.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Item <paramref name="index"/> was read and its arguments serialized into <paramref name="bytes"/> bytes, before it is sent.</summary>
    public void OnArguments(long index, int bytes)
    {
        lock (_lock)
        {
            _argumentBytes[Slot(index)] = bytes;
            _bytes += bytes;
            _peakBytes = Math.Max(_peakBytes, _bytes);
        }
    }

    /// <summary>
    /// Item <paramref name="index"/> completed: its arguments leave the window, and its result of
    /// <paramref name="resultBytes"/> bytes (0 for a failure) waits in it for the consumer.
    /// </summary>
    public void OnCompleted(long index, int resultBytes)
    {
        lock (_lock)
        {
            var slot = Slot(index);
            _bytes += resultBytes - _argumentBytes[slot];
            _argumentBytes[slot] = 0;
            _resultBytes[slot] = resultBytes;
            _peakBytes = Math.Max(_peakBytes, _bytes);
            WakeIfRoom();
        }
    }

    /// <summary>The consumer took item <paramref name="index"/>'s result (or error): it leaves the window.</summary>
    public void OnTaken(long index)
    {
        lock (_lock)
        {
            var slot = Slot(index);
            _bytes -= _resultBytes[slot];
            _resultBytes[slot] = 0;
            _taken++;
            WakeIfRoom();
        }
    }

    private int Slot(long index) => (int)(index % MaxItems);

    private bool HasRoom() => _reserved - _taken < MaxItems && _bytes < MaxBytes;

    /// <summary>Wakes the source only when it waits and now may read, so that a stream of small items does not signal per item.</summary>
    private void WakeIfRoom()
    {
        if (_waiting && HasRoom())
        {
            _waiting = false;
            _room.Set();
        }
    }
}
