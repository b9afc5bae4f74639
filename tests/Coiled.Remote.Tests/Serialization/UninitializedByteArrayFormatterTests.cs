using Coiled.Remote.Serialization;
using MessagePack;

namespace Coiled.Remote.Tests.Serialization;

/// <summary>byte[] arguments and results under the library's MessagePack settings.</summary>
public sealed class UninitializedByteArrayFormatterTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(255)]
    [InlineData(70_000)]
    [InlineData(3_000_000)]
    public void RoundTrip_AnyLength_ReturnsTheSameBytesAsStandardBinary(int length)
    {
        var data = new byte[length];
        new Random(length).NextBytes(data);

        var bytes = MessagePackSerializer.Serialize(data, RemoteSerializer.Options);
        var back = MessagePackSerializer.Deserialize<byte[]>(bytes, RemoteSerializer.Options);

        back.Should().Equal(data);
        bytes.Should().Equal(MessagePackSerializer.Serialize(data, MessagePackSerializerOptions.Standard), "the wire format stays MessagePack bin");
    }

    [Fact]
    public void RoundTrip_Null_StaysNull()
    {
        var bytes = MessagePackSerializer.Serialize<byte[]?>(null, RemoteSerializer.Options);

        MessagePackSerializer.Deserialize<byte[]?>(bytes, RemoteSerializer.Options).Should().BeNull();
    }

    [Fact]
    public void RoundTrip_InsideARecord_UsesTheSameFormatter()
    {
        var value = new Blob("name", [5, 6, 7]);

        var back = MessagePackSerializer.Deserialize<Blob>(MessagePackSerializer.Serialize(value, RemoteSerializer.Options), RemoteSerializer.Options);

        back.Name.Should().Be("name");
        back.Data.Should().Equal(5, 6, 7);
    }

    public sealed record Blob(string Name, byte[] Data);
}
