using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using MessagePack;
using MessagePack.Formatters;

namespace Coiled.Remote.Serialization;

/// <summary>
/// <see cref="BigInteger"/>, <see cref="Int128"/> and <see cref="UInt128"/> as MessagePack <c>bin</c>: their two's
/// complement bytes, little-endian (as <see cref="BigInteger.ToByteArray()"/> gives them). MessagePack has no formatter
/// for the 128-bit types, and its own BigInteger formatter fails on most buffers the values are written to.
/// </summary>
internal sealed class WideIntegerFormatter : IMessagePackFormatter<BigInteger>, IMessagePackFormatter<Int128>, IMessagePackFormatter<UInt128>
{
    public static readonly WideIntegerFormatter Instance = new();

    private WideIntegerFormatter()
    {
    }

    public void Serialize(ref MessagePackWriter writer, BigInteger value, MessagePackSerializerOptions options)
    {
        var length = value.GetByteCount();
        writer.WriteBinHeader(length);
        var span = writer.GetSpan(length);
        value.TryWriteBytes(span, out var written);
        writer.Advance(written);
    }

    public void Serialize(ref MessagePackWriter writer, Int128 value, MessagePackSerializerOptions options)
    {
        writer.WriteBinHeader(16);
        BinaryPrimitives.WriteInt128LittleEndian(writer.GetSpan(16), value);
        writer.Advance(16);
    }

    public void Serialize(ref MessagePackWriter writer, UInt128 value, MessagePackSerializerOptions options)
    {
        writer.WriteBinHeader(16);
        BinaryPrimitives.WriteUInt128LittleEndian(writer.GetSpan(16), value);
        writer.Advance(16);
    }

    BigInteger IMessagePackFormatter<BigInteger>.Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
    {
        var bytes = ReadBytes(ref reader, nameof(BigInteger));
        return bytes.IsSingleSegment ? new BigInteger(bytes.FirstSpan) : new BigInteger(bytes.ToArray());
    }

    Int128 IMessagePackFormatter<Int128>.Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
        => BinaryPrimitives.ReadInt128LittleEndian(Read16(ref reader, nameof(Int128)));

    UInt128 IMessagePackFormatter<UInt128>.Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
        => BinaryPrimitives.ReadUInt128LittleEndian(Read16(ref reader, nameof(UInt128)));

    private static ReadOnlySequence<byte> ReadBytes(ref MessagePackReader reader, string type)
        => reader.ReadBytes() ?? throw new MessagePackSerializationException($"A {type} cannot be nil.");

    private static byte[] Read16(ref MessagePackReader reader, string type)
    {
        var bytes = ReadBytes(ref reader, type);
        if (bytes.Length != 16)
        {
            throw new MessagePackSerializationException($"A {type} is 16 bytes, not {bytes.Length}.");
        }

        return bytes.ToArray();
    }
}
