using System.Buffers;

namespace Coiled.Remote.Transport;

/// <summary>
/// An <see cref="IBufferWriter{T}"/> over one array, like <see cref="ArrayBufferWriter{T}"/>, but whose arrays come from
/// <see cref="BufferPool"/> uninitialized: serialized data overwrites every byte it exposes, and a reused
/// array is already mapped, whereas a fresh 100 MB array pays for clearing and for a page fault every 4 KiB.
/// A buffer with a limit (a task's result) throws <see cref="BufferLimitException"/> as soon as what is written passes
/// it, so that a result too large to send stops serializing there instead of being written, and its memory taken, in full.
/// </summary>
/// <param name="initialCapacity">The first array's size.</param>
/// <param name="limit">
/// The most bytes the buffer takes. A write that passes it throws when it is advanced over, or, when it asks for more
/// room than <see cref="HintSlack"/> beyond the limit, when it asks (for a large string, whose room is asked for as
/// three bytes per character, that may be before its UTF-8 would actually have passed the limit).
/// </param>
internal sealed class GrowableBuffer(int initialCapacity = 256, int limit = int.MaxValue) : IBufferWriter<byte>
{
    /// <summary>
    /// Room a write may ask for beyond the limit: writers ask for a little more than they write (a header's largest
    /// size), so that only <see cref="Advance"/> can tell exactly whether a small write passes the limit.
    /// </summary>
    private const int HintSlack = 4096;

    private readonly int _initialCapacity = Math.Max(16, initialCapacity);
    private byte[] _array = BufferPool.Shared.Rent(Math.Max(16, initialCapacity));

    public int WrittenCount { get; private set; }

    public ReadOnlyMemory<byte> WrittenMemory => _array.AsMemory(0, WrittenCount);

    public ReadOnlySpan<byte> WrittenSpan => _array.AsSpan(0, WrittenCount);

    /// <summary>Forgets what was written and keeps the array for the next use.</summary>
    public void ResetWrittenCount() => WrittenCount = 0;

    /// <summary>Forgets what was written after the first <paramref name="length"/> bytes.</summary>
    public void Truncate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, WrittenCount);
        WrittenCount = length;
    }

    /// <summary>Gives the array back to the pool; the buffer is not written to or read afterwards.</summary>
    public void Release()
    {
        BufferPool.Shared.Return(_array);
        _array = [];
        WrittenCount = 0;
    }

    /// <summary>
    /// Hands the array with what was written over to a <see cref="RentedBuffer"/> held once by the caller, and starts
    /// over with a new array.
    /// </summary>
    public RentedBuffer Detach()
    {
        var detached = RentedBuffer.Adopt(_array);
        _array = BufferPool.Shared.Rent(_initialCapacity);
        WrittenCount = 0;
        return detached;
    }

    public void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count > _array.Length - WrittenCount)
        {
            throw new InvalidOperationException($"Cannot advance {count} bytes past the end of a {_array.Length}-byte buffer with {WrittenCount} written.");
        }

        if (count > limit - WrittenCount)
        {
            throw new BufferLimitException(limit);
        }

        WrittenCount += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _array.AsMemory(WrittenCount);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _array.AsSpan(WrittenCount);
    }

    private void Reserve(int sizeHint)
    {
        var needed = Math.Max(sizeHint, 1);
        if (_array.Length - WrittenCount >= needed)
        {
            return;
        }

        if ((long)WrittenCount + needed > (long)limit + HintSlack)
        {
            throw new BufferLimitException(limit);
        }

        // Double at least (but not past the limit), and grow straight to what a large write asks for so that a big
        // argument is copied once.
        var size = Math.Max((long)WrittenCount + needed, Math.Min((long)_array.Length * 2, Math.Min(limit, System.Array.MaxLength)));
        if (size > System.Array.MaxLength)
        {
            throw new OutOfMemoryException($"A buffer of {(long)WrittenCount + needed:N0} bytes is larger than the largest array .NET allows ({System.Array.MaxLength:N0}).");
        }

        var grown = BufferPool.Shared.Rent((int)size);
        WrittenSpan.CopyTo(grown);
        BufferPool.Shared.Return(_array);
        _array = grown;
    }
}
