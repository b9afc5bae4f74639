using System.Buffers;
using Coiled.Remote.Serialization;
using MessagePack;

namespace Coiled.Remote.Tests.Serialization;

/// <summary>Writes and reads values with the library's formatters directly, as the argument writer and the stubs do.</summary>
internal static class Wire
{
    public static byte[] Write<T>(T value)
    {
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        RemoteSerializer.Options.Resolver.GetFormatterWithVerify<T>().Serialize(ref writer, value, RemoteSerializer.Options);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }

    public static T Read<T>(byte[] bytes)
    {
        var reader = new MessagePackReader(bytes);
        var value = RemoteSerializer.Options.Resolver.GetFormatterWithVerify<T>().Deserialize(ref reader, RemoteSerializer.Options);
        reader.End.Should().BeTrue("the whole value is read");
        return value;
    }

    public static T RoundTrip<T>(T value) => Read<T>(Write(value));

    /// <summary>The error writing <paramref name="value"/> as a <typeparamref name="T"/> fails with.</summary>
    public static UnsendableValueException Refusal<T>(T value)
    {
        var act = () => Write(value);
        return act.Should().Throw<UnsendableValueException>().Which;
    }

    /// <summary>What a reader of any type sees: maps as JSON, for asserting what was written.</summary>
    public static string Json<T>(T value) => MessagePackSerializer.ConvertToJson(Write(value));
}
