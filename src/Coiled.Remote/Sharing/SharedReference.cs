using System.Buffers;
using MessagePack;

namespace Coiled.Remote.Sharing;

/// <summary>
/// What a task's arguments carry in place of a shared value (see <c>ShareValue</c> in worker.proto): a MessagePack
/// extension value of type <see cref="TypeCode"/> holding the value's <see cref="ValueHash"/>. Only a whole argument is
/// ever replaced, so only the reader of a whole argument (<see cref="Stubs.RemoteStub"/>) looks for it.
/// </summary>
internal static class SharedReference
{
    /// <summary>The extension type ('S'); MessagePack-CSharp's own extensions use 98 to 100 and negative codes.</summary>
    public const sbyte TypeCode = 83;

    /// <summary>Bytes a reference takes in a task's arguments: an ext 8 header (3 bytes) and the hash.</summary>
    public const int Size = 3 + ValueHash.Bytes;

    /// <summary>Where the task running on this thread finds the shared values of its stream; set around reading its arguments.</summary>
    [ThreadStatic]
    private static ISharedValueSource? t_source;

    public static ISharedValueSource? Source
    {
        get => t_source;
        set => t_source = value;
    }

    public static void Write(ref MessagePackWriter writer, ValueHash hash)
    {
        writer.WriteExtensionFormatHeader(new ExtensionHeader(TypeCode, ValueHash.Bytes));
        hash.CopyTo(writer.GetSpan(ValueHash.Bytes));
        writer.Advance(ValueHash.Bytes);
    }

    /// <summary>Reads a reference if one is next; false, having read nothing, for anything else.</summary>
    public static bool TryRead(ref MessagePackReader reader, out ValueHash hash)
    {
        hash = default;
        if (reader.NextMessagePackType != MessagePackType.Extension)
        {
            return false;
        }

        var peek = reader.CreatePeekReader();
        var header = peek.ReadExtensionFormatHeader();
        if (header.TypeCode != TypeCode || header.Length != ValueHash.Bytes)
        {
            return false;
        }

        reader.ReadExtensionFormatHeader();
        var raw = reader.ReadRaw(ValueHash.Bytes);
        Span<byte> bytes = stackalloc byte[ValueHash.Bytes];
        raw.CopyTo(bytes);
        hash = ValueHash.From(bytes);
        return true;
    }
}
