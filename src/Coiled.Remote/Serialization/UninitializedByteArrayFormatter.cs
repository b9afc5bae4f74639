using System.Buffers;
using MessagePack;
using MessagePack.Formatters;

namespace Coiled.Remote.Serialization;

/// <summary>
/// Reads a <c>byte[]</c> into an array that is not cleared first (the copy overwrites every byte), which halves the
/// memory traffic of large binary arguments; writes it as MessagePack <c>bin</c>, like the built-in formatter.
/// </summary>
internal sealed class UninitializedByteArrayFormatter : IMessagePackFormatter<byte[]?>
{
    public static readonly UninitializedByteArrayFormatter Instance = new();

    public void Serialize(ref MessagePackWriter writer, byte[]? value, MessagePackSerializerOptions options) => writer.Write(value);

    public byte[]? Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
    {
        if (reader.ReadBytes() is not { } bytes)
        {
            return null;
        }

        var array = GC.AllocateUninitializedArray<byte>(checked((int)bytes.Length));
        bytes.CopyTo(array);
        return array;
    }
}
