using System.Buffers;

namespace Coiled.Remote.Transport;

/// <summary>
/// An <see cref="IBufferWriter{T}"/> over one array, like <see cref="ArrayBufferWriter{T}"/>, but whose arrays come from
/// <see cref="BufferPool"/> uninitialized: serialized data overwrites every byte it exposes, and a reused
/// array is already mapped, whereas a fresh 100 MB array pays for clearing and for a page fault every 4 KiB.
/// </summary>
internal sealed class GrowableBuffer(int initialCapacity = 256) : IBufferWriter<byte>
{
    private readonly int _initialCapacity = Math.Max(16, initialCapacity);
    private byte[] _array = BufferPool.Shared.Rent(Math.Max(16, initialCapacity));

    public int WrittenCount { get; private set; }

    public ReadOnlyMemory<byte> WrittenMemory => _array.AsMemory(0, WrittenCount);

    public ReadOnlySpan<byte> WrittenSpan => _array.AsSpan(0, WrittenCount);

    /// <summary>Forgets what was written and keeps the array for the next use.</summary>
    public void ResetWrittenCount() => WrittenCount = 0;

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

        // Double at least, but grow straight to what a large write asks for so that a big argument is copied once.
        var size = Math.Max((long)WrittenCount + needed, Math.Min((long)_array.Length * 2, System.Array.MaxLength));
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
