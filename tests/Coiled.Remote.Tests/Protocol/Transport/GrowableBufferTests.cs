using Coiled.Remote.Transport;
using MessagePack;

namespace Coiled.Remote.Tests.Protocol.Transport;

/// <summary>The pooled buffer that arguments and results are serialized into.</summary>
public sealed class GrowableBufferTests
{
    [Fact]
    public void Write_PastTheInitialCapacity_KeepsEveryByteInOrder()
    {
        var buffer = new GrowableBuffer(16);
        var expected = Enumerable.Range(0, 100_000).Select(i => (byte)(i * 7)).ToArray();

        foreach (var piece in expected.Chunk(333))
        {
            piece.CopyTo(buffer.GetSpan(piece.Length));
            buffer.Advance(piece.Length);
        }

        buffer.WrittenCount.Should().Be(expected.Length);
        buffer.WrittenSpan.ToArray().Should().Equal(expected);
    }

    [Fact]
    public void GetSpan_ForOneLargeWrite_GrowsStraightToIt()
    {
        var buffer = new GrowableBuffer(16);
        buffer.GetSpan(3)[..3].Fill(9);
        buffer.Advance(3);

        var span = buffer.GetSpan(5_000_000);

        span.Length.Should().BeGreaterThanOrEqualTo(5_000_000);
        buffer.WrittenSpan.ToArray().Should().Equal(9, 9, 9);
    }

    [Fact]
    public void Advance_PastTheEnd_ThrowsAndKeepsTheCount()
    {
        var buffer = new GrowableBuffer(16);
        var capacity = buffer.GetSpan().Length;

        var act = () => buffer.Advance(capacity + 1);

        act.Should().Throw<InvalidOperationException>().WithMessage($"Cannot advance {capacity + 1} bytes past the end of a {capacity}-byte buffer with 0 written.");
        buffer.WrittenCount.Should().Be(0);
    }

    [Fact]
    public void Advance_PastTheLimit_ThrowsBufferLimitExceptionAndKeepsWhatFitted()
    {
        var buffer = new GrowableBuffer(16, limit: 1000);
        buffer.GetSpan(999);
        buffer.Advance(999);
        buffer.GetSpan(1);
        buffer.Advance(1);

        buffer.GetSpan(1);
        var act = () => buffer.Advance(1);

        act.Should().Throw<BufferLimitException>().WithMessage("The data written passed the limit of 1,000 bytes; writing stopped there.")
            .Which.Limit.Should().Be(1000);
        buffer.WrittenCount.Should().Be(1000);
    }

    [Fact]
    public void GetSpan_AskingForFarMoreThanTheLimit_ThrowsWithoutGrowing()
    {
        var buffer = new GrowableBuffer(16, limit: 1_000_000);
        var capacity = buffer.GetSpan().Length;

        Action act = () => buffer.GetSpan(500_000_000);

        act.Should().Throw<BufferLimitException>().Which.Limit.Should().Be(1_000_000);
        buffer.GetSpan().Length.Should().Be(capacity, "no array larger than the limit was rented");
    }

    [Fact]
    public void Detach_HandsOverTheWrittenBytesAndStartsEmpty()
    {
        var buffer = new GrowableBuffer(16);
        var writer = new MessagePackWriter(buffer);
        writer.Write(new byte[] { 1, 2, 3 });
        writer.Flush();

        var detached = buffer.Detach();

        detached.Array.AsSpan(0, 5).ToArray().Should().Equal(0xc4, 3, 1, 2, 3);
        buffer.WrittenCount.Should().Be(0);
        buffer.GetSpan(1).Length.Should().BeGreaterThan(0);
        detached.Release();
    }

    [Fact]
    public void ResetWrittenCount_ReusesTheArray()
    {
        var buffer = new GrowableBuffer(16);
        buffer.GetSpan(10);
        buffer.Advance(10);

        buffer.ResetWrittenCount();

        buffer.WrittenCount.Should().Be(0);
        buffer.WrittenMemory.Length.Should().Be(0);
    }
}
