using Coiled.Remote.Serialization;
using Coiled.Remote.Sharing;
using Coiled.Remote.Stubs;
using Coiled.Remote.Transport;
using Coiled.Remote.Worker;
using Grpc.Core;
using MessagePack;

namespace Coiled.Remote.Tests.Worker;

/// <summary>The shared values a task stream's executor keeps: read once per type, released, and held within a budget.</summary>
public sealed class SharedValueStoreTests
{
    [Fact]
    public void Read_SameTypeTwice_ReadsOnceAndHandsOutTheSameObject()
    {
        using var store = new SharedValueStore();
        var hash = Add(store, new[] { 1, 2, 3 });

        var first = store.Read<int[]>(hash);
        var second = store.Read<int[]>(hash);
        var list = store.Read<List<int>>(hash);

        second.Should().BeSameAs(first);
        first.Should().Equal(1, 2, 3);
        list.Should().Equal(1, 2, 3);
    }

    [Fact]
    public void Release_ValueTasksNoLongerNeed_LetsGoOfItsBufferAndItsBytes()
    {
        using var store = new SharedValueStore();
        var bytes = MessagePackSerializer.Serialize(new[] { 4, 5 }, RemoteSerializer.Options);
        var lease = RentedBuffer.Rent(bytes.Length);
        bytes.CopyTo(lease.Array, 0);
        var hash = ValueHash.Of(bytes);
        store.Add(Hash(hash), lease.Array.AsMemory(0, bytes.Length), lease);
        lease.Retain();

        store.Release([Hash(hash)]);

        store.Bytes.Should().Be(0);
        var read = () => store.Read<int[]>(hash);
        read.Should().Throw<RemoteArgumentException>().WithMessage($"*shared value {hash}, which this worker was not sent or has dropped*");
        lease.Release();
        var twice = () => lease.Release();
        twice.Should().Throw<InvalidOperationException>("the store let go of its hold once, the test of its own");
    }

    [Fact]
    public void Add_PastTheBudget_RefusesWithResourceExhausted()
    {
        using var store = new SharedValueStore(budget: 100);
        Add(store, new byte[60]);

        var act = () => Add(store, new byte[61]);

        act.Should().Throw<RpcException>().Which.StatusCode.Should().Be(StatusCode.ResourceExhausted);
        store.Bytes.Should().Be(62, "60 bytes are written as bin 8: 2 bytes of header");
    }

    private static ValueHash Add<T>(SharedValueStore store, T value)
    {
        var bytes = MessagePackSerializer.Serialize(value, RemoteSerializer.Options);
        var hash = ValueHash.Of(bytes);
        store.Add(Hash(hash), bytes, lease: null);
        return hash;
    }

    private static byte[] Hash(ValueHash hash)
    {
        var bytes = new byte[ValueHash.Bytes];
        hash.CopyTo(bytes);
        return bytes;
    }
}
