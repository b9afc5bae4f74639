using System.Buffers;
using System.Numerics;

namespace Coiled.Remote.Transport;

/// <summary>
/// Where argument and result buffers come from. Arrays under 64 KiB come from <see cref="ArrayPool{T}.Shared"/>; larger
/// ones from a few arrays kept here, shared by every thread. The shared pool first keeps a returned array in the
/// returning thread's own slot, where a rent on another thread cannot find it, and large buffers are usually rented on
/// one thread (a socket's receive loop) and returned on another (the task that read them); every miss costs a fresh
/// array and a page fault every 4 KiB, more than the copy that fills it, and its large-object allocations bring on
/// full collections.
/// </summary>
/// <param name="maxKept">Large arrays of one size kept at most; a return beyond it lets the oldest of that size go to the garbage collector.</param>
/// <param name="maxKeptBytes">Bytes kept at most, likewise; an array larger than this alone is never kept.</param>
/// <param name="idleLimit">A kept array not rented again within this time is let go, so an idle process gives its memory back.</param>
/// <param name="timeProvider">The clock of <paramref name="idleLimit"/>.</param>
internal sealed class BufferPool(int maxKept, long maxKeptBytes, TimeSpan idleLimit, TimeProvider timeProvider)
{
    /// <summary>
    /// Arrays at least this long are kept by the pool itself rather than by <see cref="ArrayPool{T}.Shared"/>: the size
    /// from which arguments and results travel on the bulk-data connection, whose buffers change threads.
    /// </summary>
    public const int LargeBytes = BulkFrame.ThresholdBytes;

    private readonly List<(byte[] Array, long ReturnedAt)> _kept = [];
    private long _keptBytes;
    private ITimer? _trimmer;

    /// <summary>The pool of the process: four large arrays of each size and 256 MiB at most, each let go after 30 s unused.</summary>
    public static BufferPool Shared { get; } = new(4, 256L * 1024 * 1024, TimeSpan.FromSeconds(30), TimeProvider.System);

    /// <summary>Large arrays held by the pool right now.</summary>
    public int KeptCount
    {
        get
        {
            lock (_kept)
            {
                return _kept.Count;
            }
        }
    }

    /// <summary>An array of at least <paramref name="minimumLength"/> bytes whose contents are undefined.</summary>
    public byte[] Rent(int minimumLength)
    {
        if (minimumLength < LargeBytes)
        {
            return ArrayPool<byte>.Shared.Rent(minimumLength);
        }

        var length = RoundUp(minimumLength);
        lock (_kept)
        {
            for (var i = _kept.Count - 1; i >= 0; i--)
            {
                if (_kept[i].Array.Length == length)
                {
                    var array = _kept[i].Array;
                    _kept.RemoveAt(i);
                    _keptBytes -= array.Length;
                    return array;
                }
            }
        }

        return GC.AllocateUninitializedArray<byte>(length);
    }

    /// <summary>Gives back an array from <see cref="Rent"/>; the caller must not touch it afterwards.</summary>
    public void Return(byte[] array)
    {
        if (array.Length < LargeBytes)
        {
            ArrayPool<byte>.Shared.Return(array);
            return;
        }

        if (array.Length != RoundUp(array.Length) || array.Length > maxKeptBytes)
        {
            // Not one of the pool's sizes (nothing would rent it again), or too large to keep.
            return;
        }

        lock (_kept)
        {
            _kept.Add((array, timeProvider.GetTimestamp()));
            _keptBytes += array.Length;

            // The count is per size, so that the small arrays a growing buffer passes through never push out a large one.
            if (_kept.Count(k => k.Array.Length == array.Length) > maxKept)
            {
                LetGo(_kept.FindIndex(k => k.Array.Length == array.Length));
            }

            while (_keptBytes > maxKeptBytes)
            {
                LetGo(0);
            }

            _trimmer ??= timeProvider.CreateTimer(static pool => ((BufferPool)pool!).Trim(), this, idleLimit, idleLimit);
        }
    }

    /// <summary>Lets go of the kept array at <paramref name="index"/> (lock held).</summary>
    private void LetGo(int index)
    {
        _keptBytes -= _kept[index].Array.Length;
        _kept.RemoveAt(index);
    }

    /// <summary>Lets go of every array idle for the limit or longer; stops the timer once nothing is kept.</summary>
    private void Trim()
    {
        lock (_kept)
        {
            _kept.RemoveAll(k => timeProvider.GetElapsedTime(k.ReturnedAt) >= idleLimit);
            _keptBytes = _kept.Sum(k => (long)k.Array.Length);
            if (_kept.Count == 0)
            {
                _trimmer?.Dispose();
                _trimmer = null;
            }
        }
    }

    /// <summary>The next power of two (so that sizes that differ a little share arrays), or the largest array length.</summary>
    private static int RoundUp(int length)
        => length > 1 << 30 ? Array.MaxLength : (int)BitOperations.RoundUpToPowerOf2((uint)length);
}
