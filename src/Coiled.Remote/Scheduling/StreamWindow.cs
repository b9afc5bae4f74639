namespace Coiled.Remote.Scheduling;

/// <summary>
/// What one stream holds between its source and its consumer, and when it may read more: fewer than
/// <see cref="MaxItems"/> items, and fewer than <see cref="MaxBytes"/> bytes in flight.
/// </summary>
/// <remarks>
/// <para>
/// Bytes in flight are the serialized results that wait for the consumer plus, for the items read and not yet
/// completed, the larger of their serialized arguments and the results they are expected to make: as many as there
/// are such items, each as large as the larger of the mean result so far and a recent largest one (the largest result,
/// shrinking by 1/64 with each smaller one after it). An item read while the window is below its byte limit is admitted
/// whatever its size, so an item larger than the whole window still goes through. Results that suddenly grow far
/// beyond those before them can overrun the window by the items then in flight, since nothing tells their size in
/// advance.
/// </para>
/// <para>
/// Until the first result arrives its size is unknown, so at most <see cref="ItemsBeforeFirstResult"/> items are read
/// and not completed; the cluster sets that to about two per worker slot, which keeps every slot busy. What a stream
/// holds is thus at most <see cref="MaxBytes"/> plus one item, plus whatever the items read before the first result
/// make beyond the mean, however small its arguments and large its results.
/// </para>
/// <para>
/// The source side calls <see cref="TryReserve"/> or <see cref="ReserveAsync"/> before reading an item and
/// <see cref="OnArguments"/> once it is serialized; the receive loops call <see cref="OnCompleted"/>; the consumer calls
/// <see cref="OnTaken"/>. Each item index is reserved, serialized, completed and taken once, in that order.
/// </para>
/// </remarks>
internal sealed class StreamWindow
{
    private readonly object _lock = new();
    private readonly AsyncSignal _room = new();
    private readonly int[] _argumentBytes;
    private readonly int[] _resultBytes;
    private long _reserved;
    private long _read;
    private long _completed;
    private long _taken;
    private long _pendingArgumentBytes;
    private long _waitingResultBytes;
    private long _results;
    private long _resultBytesSum;
    private long _recentLargestResult;
    private long _peakBytes;
    private long _peakItems;
    private bool _waiting;

    /// <param name="maxItems">Most items between reading from the source and handing the result to the consumer.</param>
    /// <param name="maxBytes">The bytes in flight below which another item may be read.</param>
    /// <param name="itemsBeforeFirstResult">Most items read and not completed before any result arrives; by default <paramref name="maxItems"/>.</param>
    public StreamWindow(int maxItems, long maxBytes, int? itemsBeforeFirstResult = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxItems, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1);
        MaxItems = maxItems;
        MaxBytes = maxBytes;
        ItemsBeforeFirstResult = Math.Clamp(itemsBeforeFirstResult ?? maxItems, 1, maxItems);
        _argumentBytes = new int[maxItems];
        _resultBytes = new int[maxItems];
    }

    /// <summary>Most items between reading from the source and handing the result to the consumer.</summary>
    public int MaxItems { get; }

    /// <summary>Another item is read only while fewer bytes than this are in flight.</summary>
    public long MaxBytes { get; }

    /// <summary>Most items read and not completed while no result has arrived yet.</summary>
    public int ItemsBeforeFirstResult { get; }

    /// <summary>
    /// Serialized results not yet taken, plus, for the items read and not completed, the larger of their serialized
    /// arguments and the results they are expected to make; now.
    /// </summary>
    public long BytesInFlight
    {
        get
        {
            lock (_lock)
            {
                return Bytes();
            }
        }
    }

    /// <summary>Serialized results that arrived and wait for the consumer, now.</summary>
    public long ResultBytesWaiting
    {
        get
        {
            lock (_lock)
            {
                return _waitingResultBytes;
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
            _pendingArgumentBytes += bytes;
            _read++;
            _peakBytes = Math.Max(_peakBytes, Bytes());
        }
    }

    /// <summary>
    /// Item <paramref name="index"/> completed: its arguments leave the window, and its result of
    /// <paramref name="resultBytes"/> bytes waits in it for the consumer. A failure has no result
    /// (<paramref name="failed"/>), and tells nothing about the size of the results to come.
    /// </summary>
    public void OnCompleted(long index, int resultBytes, bool failed = false)
    {
        lock (_lock)
        {
            var slot = Slot(index);
            _pendingArgumentBytes -= _argumentBytes[slot];
            _argumentBytes[slot] = 0;
            _resultBytes[slot] = resultBytes;
            _waitingResultBytes += resultBytes;
            _completed++;
            if (!failed)
            {
                _results++;
                _resultBytesSum += resultBytes;
                _recentLargestResult = Math.Max(resultBytes, _recentLargestResult - (_recentLargestResult / 64));
            }

            _peakBytes = Math.Max(_peakBytes, Bytes());
            WakeIfRoom();
        }
    }

    /// <summary>The consumer took item <paramref name="index"/>'s result (or error): it leaves the window.</summary>
    public void OnTaken(long index)
    {
        lock (_lock)
        {
            var slot = Slot(index);
            _waitingResultBytes -= _resultBytes[slot];
            _resultBytes[slot] = 0;
            _taken++;
            WakeIfRoom();
        }
    }

    private int Slot(long index) => (int)(index % MaxItems);

    private bool HasRoom()
        => _reserved - _taken < MaxItems
            && (_results > 0 || _reserved - _completed < ItemsBeforeFirstResult)
            && Bytes() < MaxBytes;

    /// <summary>What <see cref="BytesInFlight"/> says; under the lock.</summary>
    private long Bytes()
    {
        var expected = _results == 0 ? 0 : (_read - _completed) * Math.Max(_resultBytesSum / _results, _recentLargestResult);
        return _waitingResultBytes + Math.Max(_pendingArgumentBytes, expected);
    }

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
