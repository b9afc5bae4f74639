using Coiled.Remote.Transport;

namespace Coiled.Remote.Sharing;

/// <summary>
/// An argument value the caller sends to each worker once, serialized, instead of with every task that passes it:
/// its hash and size, its bytes while a running call refers to it (in a pooled array, so that a large value made
/// again in every call lands in memory already mapped), and, through <see cref="SharedValueTable"/>, how many running
/// calls refer to it and how many workers hold it. Made by a call's writer; once the table has it, touched only under
/// the scheduler's lock.
/// </summary>
internal sealed class SharedValue
{
    private RentedBuffer? _bytes;

    private SharedValue(ValueHash hash, RentedBuffer bytes, int size)
    {
        Hash = hash;
        Size = size;
        _bytes = bytes;
    }

    public ValueHash Hash { get; }

    public int Size { get; }

    /// <summary>Whether the caller holds the bytes: from the value's making until no running call refers to it.</summary>
    public bool HasBytes => _bytes is not null;

    /// <summary>The serialized value, while the caller holds it.</summary>
    public ReadOnlyMemory<byte> Bytes => (_bytes ?? throw Dropped()).Array.AsMemory(0, Size);

    /// <summary>Running calls whose items refer to it.</summary>
    public int Calls { get; set; }

    /// <summary>Workers (task streams) that hold it.</summary>
    public int Holders { get; set; }

    /// <summary>
    /// Whether a <see cref="Shared{T}"/> handle made it: the workers are then told to let go of it as soon as no handle
    /// and no running call refers to it, where a value only calls passed stays until the budget needs its room.
    /// </summary>
    public bool Explicit { get; set; }

    /// <summary>Whether its handles were disposed and no call refers to it: a call that passes the handle now is refused.</summary>
    public bool Withdrawn { get; set; }

    /// <summary>A copy of <paramref name="serialized"/> with its hash.</summary>
    public static SharedValue Of(ReadOnlySpan<byte> serialized)
    {
        var bytes = RentedBuffer.Rent(serialized.Length);
        serialized.CopyTo(bytes.Array);
        return new SharedValue(ValueHash.Of(serialized), bytes, serialized.Length);
    }

    /// <summary>
    /// Another value of the same hash that holds the same bytes (counted once more), for one chunk of a call's items to
    /// refer to: the table takes its bytes when the chunk is queued, whatever became of this one's by then.
    /// </summary>
    public SharedValue Copy() => new(Hash, HoldBytes(), Size);

    /// <summary>A hold on the bytes for one send, which the sender releases once they are written.</summary>
    public RentedBuffer HoldBytes()
    {
        var bytes = _bytes ?? throw Dropped();
        bytes.Retain();
        return bytes;
    }

    /// <summary>
    /// <paramref name="other"/>, of the same hash, is dropped for this one: this takes its bytes if it has none, and
    /// <paramref name="other"/> lets go of them either way.
    /// </summary>
    public void Absorb(SharedValue other)
    {
        if (ReferenceEquals(this, other) || other._bytes is not { } bytes)
        {
            return;
        }

        other._bytes = null;
        if (_bytes is null)
        {
            _bytes = bytes;
        }
        else
        {
            bytes.Release();
        }
    }

    /// <summary>No running call refers to the value any more: the caller lets go of its bytes (workers keep theirs).</summary>
    public void DropBytes()
    {
        _bytes?.Release();
        _bytes = null;
    }

    private InvalidOperationException Dropped() => new($"Shared value {Hash} is needed, but no running call holds its bytes.");
}
