using Coiled.Remote.Sharing;
using Coiled.Remote.Transport;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// The serialized arguments of consecutive items of one job, back to back in one buffer, so that a run of them
/// travels to a worker as a single slice without copying.
/// </summary>
internal sealed class ArgumentChunk(int firstIndex, ReadOnlyMemory<byte> buffer, int[] ends, int count, RentedBuffer? lease = null, ChunkShares? shares = null)
{
    /// <summary>The shared values the items refer to; null when none does.</summary>
    public ChunkShares? Shares { get; } = shares;

    /// <summary>
    /// The pooled array under <c>buffer</c>, if it is one: held by the chunk's job until the job ended, and by each
    /// send of a slice of it until that send is done (see <see cref="Job.AddChunk"/>).
    /// </summary>
    public RentedBuffer? Lease { get; } = lease;

    /// <summary>Index of the chunk's first item in the job's input.</summary>
    public int FirstIndex { get; } = firstIndex;

    public int Count { get; } = count;

    /// <summary>Items already handed to workers (under the scheduler's lock).</summary>
    public int Taken { get; set; }

    public int Remaining => Count - Taken;

    /// <summary>The arguments of items [<paramref name="start"/>, <paramref name="start"/> + <paramref name="length"/>) of this chunk.</summary>
    public ReadOnlyMemory<byte> Slice(int start, int length)
    {
        var from = start == 0 ? 0 : ends[start - 1];
        return buffer.Slice(from, ends[start + length - 1] - from);
    }

    public int SizeOf(int start, int length) => Slice(start, length).Length;
}
