using Coiled.Remote.Scheduling;
using Coiled.Remote.Serialization;
using Coiled.Remote.Sharing;
using Coiled.Remote.Stubs;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Transport;
using MessagePack;

namespace Coiled.Remote.Tests.Sharing;

/// <summary>What a call's items carry when a large argument object comes again, and how a worker's stub reads it.</summary>
public sealed class ArgumentSharingTests
{
    private const int ModelBytes = 100_000;

    /// <summary>A byte[] of 100,000 bytes is written as bin 32: a 5-byte header and the bytes.</summary>
    private const int SerializedModelBytes = ModelBytes + 5;

    private static readonly RemoteStub Score = StubCatalog.Resolve((Func<byte[], int, long>)TestJobs.Score);

    [Fact]
    public void Add_SameLargeObjectInEveryItem_FirstInlineThenReferencesToOneSharedValue()
    {
        var model = Model(1);
        using var builder = Builder(new RepeatedArguments());

        var sizes = Enumerable.Range(0, 5).Select(i => builder.Add((model, i), i)).ToList();
        var chunk = builder.Seal()!;

        sizes[0].Should().BeGreaterThan(ModelBytes);
        sizes.Skip(1).Should().AllSatisfy(size => size.Should().BeLessThan(48, "an item carries a 35-byte reference and its index"));
        chunk.Shares!.ValuesOf(0, 1).Should().BeNull("the first item carried the model itself");
        var shared = chunk.Shares.ValuesOf(1, 4).Should().ContainSingle().Subject;
        shared.Size.Should().Be(SerializedModelBytes);
        shared.Hash.Should().Be(ValueHash.Of(MessagePackSerializer.Serialize(model, RemoteSerializer.Options)));
        chunk.Shares.ReplacedBytes(0, 5).Should().Be(4L * (SerializedModelBytes - SharedReference.Size));
    }

    [Fact]
    public async Task InvokeAsync_ItemWithReference_ReadsTheValueFromTheStreamsSharedValues()
    {
        var model = Model(2);
        using var builder = Builder(new RepeatedArguments());
        builder.Add((model, 0), 0);
        builder.Add((model, 7), 1);
        var chunk = builder.Seal()!;
        var shared = chunk.Shares!.ValuesOf(1, 1)!.Single();
        var source = new FakeSource(shared);
        var result = new GrowableBuffer();

        SharedReference.Source = source;
        try
        {
            await Score.InvokeAsync(chunk.Slice(1, 1), result, CancellationToken.None);
        }
        finally
        {
            SharedReference.Source = null;
        }

        MessagePackSerializer.Deserialize<long>(result.WrittenMemory).Should().Be((ModelBytes * 256L) + model[7]);
        source.Reads.Should().Be(1);
    }

    [Fact]
    public void Add_ObjectAnEarlierCallPassed_IsReferredToFromTheFirstItemAndChangesMakeANewValue()
    {
        var model = Model(3);
        var cluster = new RepeatedArguments();
        using (var first = Builder(cluster))
        {
            first.Add((model, 0), 0);
        }

        using var second = Builder(cluster);
        second.Add((model, 0), 0).Should().BeLessThan(48);
        var before = second.Seal()!.Shares!.ValuesOf(0, 1)!.Single();
        model[0] ^= 1;
        using var third = Builder(cluster);
        third.Add((model, 0), 0);
        var after = third.Seal()!.Shares!.ValuesOf(0, 1)!.Single();

        after.Hash.Should().NotBe(before.Hash, "the changed model is written again and hashed anew");
        after.Hash.Should().Be(ValueHash.Of(MessagePackSerializer.Serialize(model, RemoteSerializer.Options)));
    }

    [Fact]
    public void Add_TwoLargeObjectsTakingTurns_EachIsSharedWithItsOwnBytes()
    {
        var a = Model(4);
        var b = Model(5);
        using var builder = Builder(new RepeatedArguments());

        for (var i = 0; i < 6; i++)
        {
            builder.Add((i % 2 == 0 ? a : b, i), i);
        }

        var chunk = builder.Seal()!;
        var sharedA = chunk.Shares!.ValuesOf(2, 1)!.Single();
        var sharedB = chunk.Shares.ValuesOf(3, 1)!.Single();
        sharedA.Hash.Should().Be(ValueHash.Of(MessagePackSerializer.Serialize(a, RemoteSerializer.Options)));
        sharedB.Hash.Should().Be(ValueHash.Of(MessagePackSerializer.Serialize(b, RemoteSerializer.Options)), "b's bytes were not the latest kept when it came again, so it was written again");
        chunk.Shares.ValuesOf(2, 4).Should().BeEquivalentTo([sharedA, sharedB]);
    }

    [Fact]
    public void Add_SmallObjectInEveryItem_IsNeverShared()
    {
        var small = new byte[WireLimits.MinSharedValueBytes - 100];
        using var builder = Builder(new RepeatedArguments());

        for (var i = 0; i < 5; i++)
        {
            builder.Add((small, i), i).Should().BeGreaterThan(small.Length);
        }

        builder.Seal()!.Shares.Should().BeNull();
    }

    [Fact]
    public void Add_RepeatedObjectLargerThanAWorkerKeeps_ThrowsNamingTheItemAndTheBudget()
    {
        var model = Model(6);
        using var builder = Builder(new RepeatedArguments(), budget: 50_000);
        builder.Add((model, 0), 0);

        var act = () => builder.Add((model, 1), 1);

        act.Should().Throw<ArgumentException>().WithMessage("Item 1 of TestJobs.Score passes 1 repeated argument value(s) of 100,005 bytes together*at most 50,000 bytes*");
    }

    private static ArgumentChunkBuilder<(byte[], int)> Builder(RepeatedArguments cluster, long budget = WireLimits.MaxSharedValueBytes)
        => new(ArgumentArrays<byte[], int>.Writer, Score, itemized: true, pooled: false, new ArgumentSharing(cluster), budget);

    private static byte[] Model(int seed)
    {
        var model = new byte[ModelBytes];
        new Random(seed).NextBytes(model);
        return model;
    }

    /// <summary>A worker's shared values holding one value.</summary>
    private sealed class FakeSource(SharedValue value) : ISharedValueSource
    {
        public int Reads { get; private set; }

        public T Read<T>(ValueHash hash)
        {
            hash.Should().Be(value.Hash);
            Reads++;
            return MessagePackSerializer.Deserialize<T>(value.Bytes, RemoteSerializer.Options);
        }
    }
}
