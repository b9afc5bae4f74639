namespace Coiled.Remote.Transport;

/// <summary>
/// An array from <see cref="BufferPool"/> shared by several holders (a job and the sends in progress on the
/// caller, a blob's tasks on a worker), returned to the pool when the last holder lets go. Reusing large arrays keeps
/// their memory mapped: a fresh 100 MB array costs more in page faults than the copy that fills it.
/// </summary>
/// <remarks>
/// Every <see cref="Retain"/> and the creator's own hold must be matched by exactly one <see cref="Release"/>. A holder
/// that never releases only costs the pool an array (the garbage collector frees it); releasing twice would hand the
/// array to a new renter while it is still read, so <see cref="Release"/> refuses to go below zero.
/// </remarks>
internal sealed class RentedBuffer
{
    private byte[]? _array;
    private int _holders = 1;

    private RentedBuffer(byte[] array) => _array = array;

    /// <summary>The pooled array, which may be longer than the data in it.</summary>
    public byte[] Array => Volatile.Read(ref _array) ?? throw new ObjectDisposedException(nameof(RentedBuffer), "The buffer went back to the pool.");

    /// <summary>Rents an array of at least <paramref name="minimumLength"/> bytes, held once by the caller.</summary>
    public static RentedBuffer Rent(int minimumLength) => new(BufferPool.Shared.Rent(minimumLength));

    /// <summary>Takes over an array rented from <see cref="BufferPool"/>, held once by the caller.</summary>
    public static RentedBuffer Adopt(byte[] rented) => new(rented);

    /// <summary>Adds a holder; only a current holder may call it, so the buffer cannot have gone back to the pool.</summary>
    public void Retain()
    {
        if (Interlocked.Increment(ref _holders) <= 1)
        {
            throw new InvalidOperationException("A buffer was retained after it went back to the pool.");
        }
    }

    /// <summary>Removes a holder; the last one returns the array to the pool.</summary>
    public void Release()
    {
        var left = Interlocked.Decrement(ref _holders);
        if (left == 0)
        {
            BufferPool.Shared.Return(Interlocked.Exchange(ref _array, null)!);
        }
        else if (left < 0)
        {
            throw new InvalidOperationException("A buffer was released more often than it was held.");
        }
    }
}
