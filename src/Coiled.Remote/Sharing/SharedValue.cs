namespace Coiled.Remote.Sharing;

/// <summary>
/// An argument value the caller sends to each worker once, serialized, instead of with every task that passes it:
/// its hash and size, its bytes while a running call refers to it, and (under the scheduler's lock, through
/// <see cref="SharedValueTable"/>) how many running calls refer to it and how many workers hold it.
/// </summary>
internal sealed class SharedValue
{
    private SharedValue(ValueHash hash, byte[] bytes)
    {
        Hash = hash;
        Size = bytes.Length;
        Bytes = bytes;
    }

    public ValueHash Hash { get; }

    public int Size { get; }

    /// <summary>The serialized value; null once no running call refers to it (workers that hold it keep it).</summary>
    public byte[]? Bytes { get; set; }

    /// <summary>Running calls whose items refer to it.</summary>
    public int Calls { get; set; }

    /// <summary>Workers (task streams) that hold it.</summary>
    public int Holders { get; set; }

    /// <summary>A copy of <paramref name="serialized"/> with its hash.</summary>
    public static SharedValue Of(ReadOnlySpan<byte> serialized)
    {
        // Every byte is written by the copy: clearing the array first would only cost another pass over it.
        var bytes = GC.AllocateUninitializedArray<byte>(serialized.Length);
        serialized.CopyTo(bytes);
        return new SharedValue(ValueHash.Of(bytes), bytes);
    }
}
