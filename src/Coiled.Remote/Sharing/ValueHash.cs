using System.Buffers.Binary;
using System.Security.Cryptography;
using Google.Protobuf;

namespace Coiled.Remote.Sharing;

/// <summary>The SHA-256 of a shared argument value's serialized bytes, which names it on both sides.</summary>
internal readonly record struct ValueHash(ulong A, ulong B, ulong C, ulong D)
{
    public const int Bytes = 32;

    /// <summary>The hash of <paramref name="data"/>.</summary>
    public static ValueHash Of(ReadOnlySpan<byte> data)
    {
        Span<byte> hash = stackalloc byte[Bytes];
        SHA256.HashData(data, hash);
        return From(hash);
    }

    /// <summary>Reads a hash of <see cref="Bytes"/> bytes.</summary>
    /// <exception cref="ArgumentException"><paramref name="hash"/> is not 32 bytes long.</exception>
    public static ValueHash From(ReadOnlySpan<byte> hash)
    {
        if (hash.Length != Bytes)
        {
            throw new ArgumentException($"A shared value's hash is {Bytes} bytes, not {hash.Length}.", nameof(hash));
        }

        return new(
            BinaryPrimitives.ReadUInt64BigEndian(hash),
            BinaryPrimitives.ReadUInt64BigEndian(hash[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(hash[16..]),
            BinaryPrimitives.ReadUInt64BigEndian(hash[24..]));
    }

    public void CopyTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, A);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], B);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], C);
        BinaryPrimitives.WriteUInt64BigEndian(destination[24..], D);
    }

    public ByteString ToByteString()
    {
        var bytes = new byte[Bytes];
        CopyTo(bytes);
        return UnsafeByteOperations.UnsafeWrap(bytes);
    }

    /// <summary>The first 12 hex digits, for messages.</summary>
    public override string ToString() => A.ToString("x16", System.Globalization.CultureInfo.InvariantCulture)[..12];
}
