using Coiled.Remote.Transport;
using Microsoft.Extensions.Time.Testing;

namespace Coiled.Remote.Tests.Protocol.Transport;

/// <summary>The pool of large argument and result buffers: shared by every thread, bounded, and emptied when idle.</summary>
public sealed class BufferPoolTests
{
    private static readonly TimeSpan IdleLimit = TimeSpan.FromSeconds(30);
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void Rent_Large_RoundsUpToAPowerOfTwo()
    {
        var pool = new BufferPool(4, 1L << 30, IdleLimit, _time);

        pool.Rent(100_000_000).Length.Should().Be(134_217_728);
        pool.Rent(BufferPool.LargeBytes).Length.Should().Be(BufferPool.LargeBytes);
    }

    [Theory]
    [InlineData(3_000_000, 2_500_000)]
    [InlineData(1_000_005, 1_000_005)] // a 1 MB byte[] argument, MessagePack header included
    [InlineData(BulkFrame.ThresholdBytes, BulkFrame.ThresholdBytes)] // the smallest blob on the bulk-data connection
    public async Task Return_OnOneThread_IsRentedAgainOnAnother(int rented, int rentedAgain)
    {
        var pool = new BufferPool(4, 1L << 30, IdleLimit, _time);
        var array = pool.Rent(rented);
        await Task.Run(() => pool.Return(array));

        var again = await Task.Run(() => pool.Rent(rentedAgain));

        again.Should().BeSameAs(array);
        pool.KeptCount.Should().Be(0);
    }

    [Fact]
    public void Rent_DifferentSize_DoesNotTakeAKeptArrayOfAnotherSize()
    {
        var pool = new BufferPool(4, 1L << 30, IdleLimit, _time);
        var big = pool.Rent(8_000_000);
        pool.Return(big);

        var small = pool.Rent(2_000_000);

        small.Should().NotBeSameAs(big);
        small.Length.Should().Be(2_097_152);
        pool.KeptCount.Should().Be(1);
    }

    [Fact]
    public void Return_BeyondTheLimit_LetsTheOldestGo()
    {
        var pool = new BufferPool(2, 1L << 30, IdleLimit, _time);
        var arrays = Enumerable.Range(0, 3).Select(_ => pool.Rent(BufferPool.LargeBytes)).ToList();

        arrays.ForEach(pool.Return);

        pool.KeptCount.Should().Be(2);
        var rented = new[] { pool.Rent(BufferPool.LargeBytes), pool.Rent(BufferPool.LargeBytes) };
        rented[0].Should().BeSameAs(arrays[2], "the newest is rented first");
        rented[1].Should().BeSameAs(arrays[1]);
        pool.Rent(BufferPool.LargeBytes).Should().NotBeSameAs(arrays[0], "the oldest was let go");
    }

    [Fact]
    public void Return_BeyondTheLimitOfOneSize_KeepsArraysOfOtherSizes()
    {
        var pool = new BufferPool(2, 1L << 30, IdleLimit, _time);
        var large = pool.Rent(8 * BufferPool.LargeBytes);
        pool.Return(large);

        Enumerable.Range(0, 3).Select(_ => pool.Rent(BufferPool.LargeBytes)).ToList().ForEach(pool.Return);

        pool.KeptCount.Should().Be(3, "two arrays of the small size, and the large one");
        pool.Rent(8 * BufferPool.LargeBytes).Should().BeSameAs(large);
    }

    [Fact]
    public void Return_BeyondTheByteLimit_LetsTheOldestGoAndNeverKeepsAnArrayLargerThanIt()
    {
        var pool = new BufferPool(8, 4L * BufferPool.LargeBytes, IdleLimit, _time);
        var first = pool.Rent(2 * BufferPool.LargeBytes);
        var second = pool.Rent(2 * BufferPool.LargeBytes);
        var third = pool.Rent(BufferPool.LargeBytes);

        pool.Return(first);
        pool.Return(second);
        pool.Return(third);
        pool.Return(new byte[8 * BufferPool.LargeBytes]);

        pool.KeptCount.Should().Be(2, "4 MiB hold the second and the third, not the first too");
        pool.Rent(2 * BufferPool.LargeBytes).Should().BeSameAs(second);
        pool.Rent(BufferPool.LargeBytes).Should().BeSameAs(third);
    }

    [Fact]
    public void KeptArrays_UnusedForTheIdleLimit_AreLetGo()
    {
        var pool = new BufferPool(4, 1L << 30, IdleLimit, _time);
        pool.Return(pool.Rent(BufferPool.LargeBytes));
        pool.Return(pool.Rent(4 * BufferPool.LargeBytes));

        _time.Advance(IdleLimit - TimeSpan.FromSeconds(1));
        pool.KeptCount.Should().Be(2);
        _time.Advance(IdleLimit);

        pool.KeptCount.Should().Be(0);
    }

    [Fact]
    public void Return_LargeArrayOfAnotherSize_IsNotKept()
    {
        var pool = new BufferPool(4, 1L << 30, IdleLimit, _time);

        pool.Return(new byte[BufferPool.LargeBytes + 1]);

        pool.KeptCount.Should().Be(0);
    }

    [Fact]
    public void Rent_Small_ComesFromTheSharedArrayPool()
    {
        var pool = new BufferPool(4, 1L << 30, IdleLimit, _time);

        var array = pool.Rent(1000);
        pool.Return(array);

        array.Length.Should().Be(1024);
        pool.KeptCount.Should().Be(0);
    }
}
