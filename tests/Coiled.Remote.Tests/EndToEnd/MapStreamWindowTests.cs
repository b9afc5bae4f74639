using Coiled.Remote.Scheduling;
using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>
/// A stream's window is bounded in bytes of arguments and results as well as in items. Each test closes
/// <see cref="TestJobs.Gate"/> so that nothing completes, checks that the source was read exactly as far as the window
/// admits, then opens it and streams everything through.
/// </summary>
public sealed class MapStreamWindowTests
{
    private const int MiB = 1024 * 1024;

    /// <summary>A 1 MiB byte[] argument as sent: a one-element array header, a bin 32 header, then the bytes.</summary>
    private const int MiBArgumentBytes = 1 + 5 + MiB;

    /// <summary>A 1 MiB byte[] result as received: a bin 32 header, then the bytes.</summary>
    private const int MiBResultBytes = 5 + MiB;

    /// <summary>Items 1-65,536 as int results: 127 one-byte, 128 two-byte, 65,280 three-byte and one five-byte integer.</summary>
    private const long ResultBytesOf65536Items = 127 + (128 * 2) + (65_280 * 3) + 5;

    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task MapStreamAsync_1024ItemsOf1MiBThroughSlowWorkers_BytesInFlightNeverExceedTheBudgetPlusOneItem()
    {
        const long Budget = 16 * MiB;
        var window = new StreamWindow(Cluster.StreamWindowItems, Budget);
        // The same array in every item, sent whole with each: a repeated large argument would otherwise be shared.
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend(), ShareRepeatedArguments = false });
        var data = new byte[MiB];
        var source = new CountingSource<byte[]>(1024, _ => data);
        var stream = cluster.MapStreamCoreAsync<byte[], long>(
            (Func<byte[], long>)TestJobs.SlowLength, 1, ItemSource.From(source.Items()), ArgumentArrays<byte[]>.Writer, null, window, CancellationToken.None);

        var lengths = await HeldThenOpenAsync(stream, () => source.Pulled == 16, () =>
        {
            // 15 items (15,728,730 bytes) are below the budget, so a 16th is read; 16 (16,777,312 bytes) are not.
            source.Pulled.Should().Be(16);
            window.BytesInFlight.Should().Be(16L * MiBArgumentBytes);
        });

        lengths.Should().HaveCount(1024).And.OnlyContain(length => length == MiB);
        source.Pulled.Should().Be(1024);
        window.PeakBytes.Should().BeInRange(16L * MiBArgumentBytes, Budget + MiBArgumentBytes - 1);
        window.BytesInFlight.Should().Be(0, "every argument completed and every result was taken");
    }

    [Fact]
    public async Task MapStreamAsync_WorkersHeldBeforeAnyResult_ReadsTwoItemsPerWorkerSlot()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend() });
        var window = cluster.NewStreamWindow();
        var slots = cluster.Workers.Sum(worker => worker.Cores);
        window.ItemsBeforeFirstResult.Should().Be(Math.Max(Cluster.MinItemsBeforeFirstResult, 2 * slots));
        var source = new CountingSource<int>(200_000, i => i);
        var stream = cluster.MapStreamCoreAsync<int, int>(
            (Func<int, int>)TestJobs.IdentityWhenOpen, 1, ItemSource.From(source.Items()), ArgumentArrays<int>.Writer, null, window, CancellationToken.None);

        var values = await HeldThenOpenAsync(stream, () => source.Pulled == window.ItemsBeforeFirstResult, () =>
        {
            source.Pulled.Should().Be(window.ItemsBeforeFirstResult, "until a result tells how large results are, the source is read only to keep every slot busy");
        });

        values.Should().Equal(Enumerable.Range(0, 200_000));
        window.BytesInFlight.Should().Be(0);
    }

    [Fact]
    public async Task MapStreamAsync_200000SmallItemsWithTheConsumerHeld_ItemWindowCapsTheSourceFarBelowTheBytes()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend() });
        var window = cluster.NewStreamWindow();
        var source = new CountingSource<int>(200_000, i => i);
        var stream = cluster.MapStreamCoreAsync<int, int>(
            (Func<int, int>)TestJobs.Identity, 1, ItemSource.From(source.Items()), ArgumentArrays<int>.Writer, null, window, CancellationToken.None);

        var values = await ConsumerHeldAfterFirstAsync(stream, () => source.Pulled == Cluster.StreamWindowItems + 1 && window.ResultBytesWaiting == ResultBytesOf65536Items, () =>
        {
            // Item 0 was taken; items 1-65,536 completed and wait for the consumer.
            source.Pulled.Should().Be(Cluster.StreamWindowItems + 1);
            window.PeakItems.Should().Be(Cluster.StreamWindowItems);
            window.ResultBytesWaiting.Should().Be(ResultBytesOf65536Items);
            window.BytesInFlight.Should().Be(ResultBytesOf65536Items);
        });

        values.Should().Equal(Enumerable.Range(0, 200_000));
        window.PeakItems.Should().Be(Cluster.StreamWindowItems);
        window.PeakBytes.Should().BeLessThan(MiB);
        window.BytesInFlight.Should().Be(0);
    }

    [Fact]
    public async Task MapStreamAsync_SmallArgumentsMaking1MiBResultsWithTheConsumerHeld_ResultsHeldStayWithinTheBudget()
    {
        const long Budget = 8 * MiB;
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend() });
        var window = new StreamWindow(Cluster.StreamWindowItems, Budget, itemsBeforeFirstResult: 4);
        var source = new CountingSource<int>(64, _ => MiB);
        var stream = cluster.MapStreamCoreAsync<int, byte[]>(
            (Func<int, byte[]>)TestJobs.Allocate, 1, ItemSource.From(source.Items()), ArgumentArrays<int>.Writer, null, window, CancellationToken.None);

        var results = await ConsumerHeldAfterFirstAsync(stream, () => source.Pulled == 9 && window.ResultBytesWaiting == 8L * MiBResultBytes, () =>
        {
            // Item 0 was taken. Seven held results (7,340,067 bytes) are below the budget, so an eighth item is read;
            // eight (8,388,648 bytes) are not. Counting only arguments, all 64 would have been read.
            source.Pulled.Should().Be(9);
            window.ResultBytesWaiting.Should().Be(8L * MiBResultBytes);
        });

        results.Should().HaveCount(64).And.OnlyContain(result => result.Length == MiB);
        source.Pulled.Should().Be(64);
        window.PeakBytes.Should().BeInRange(8L * MiBResultBytes, Budget + MiBResultBytes - 1);
        window.BytesInFlight.Should().Be(0);
    }

    [Fact]
    public async Task MapStreamAsync_ItemsLargerThanStreamWindowBytes_AreReadOneAtATimeAndAllGoThrough()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 2,
            Backend = new InProcessBackend(),
            StreamWindowBytes = ClusterOptions.MinStreamWindowBytes,
            ShareRepeatedArguments = false,
        });
        var data = new byte[2 * MiB];
        var source = new CountingSource<byte[]>(20, _ => data);

        var lengths = await HeldThenOpenAsync(cluster.MapStreamAsync(TestJobs.SlowLength, source.Items()), () => source.Pulled == 1, () =>
        {
            source.Pulled.Should().Be(1, "one item larger than the window is admitted when the window is empty, and no second one");
        });

        lengths.Should().HaveCount(20).And.OnlyContain(length => length == 2 * MiB);
    }

    [Fact]
    public async Task MapStreamAsync_LargeItemsRetriedInASmallWindow_EveryResultMatchesItsOwnBytes()
    {
        // A 4 MiB window holds about eight of these 512 KiB items. A third of them fail once and are sent again from
        // their arguments while later items stream past; each result must still be the hash of its own bytes, in order.
        await using var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 2,
            Backend = new InProcessBackend(),
            StreamWindowBytes = 4 * MiB,
        });

        var hashes = new List<string>();
        await foreach (var hash in cluster.MapStreamAsync(TestJobs.Sha256FailingFirstForMultiplesOfThree, Enumerable.Range(0, 200).Select(Data)).WithCancellation(CancellationToken.None))
        {
            hashes.Add(hash);
        }

        hashes.Should().Equal(Enumerable.Range(0, 200).Select(i => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Data(i)))));

        static byte[] Data(int index)
        {
            var data = new byte[MiB / 2];
            new Random(index).NextBytes(data);
            return data;
        }
    }

    /// <summary>
    /// Starts reading <paramref name="stream"/> with the gate closed, waits until <paramref name="full"/>, gives the source
    /// a moment to be read further if the window let it, runs <paramref name="whileHeld"/>, then opens the gate and
    /// returns every result.
    /// </summary>
    private static async Task<List<T>> HeldThenOpenAsync<T>(IAsyncEnumerable<T> stream, Func<bool> full, Action whileHeld)
    {
        var results = new List<T>();
        TestJobs.Gate.Reset();
        try
        {
            await using var enumerator = stream.GetAsyncEnumerator();
            var first = enumerator.MoveNextAsync().AsTask();
            var waited = System.Diagnostics.Stopwatch.StartNew();
            while (!full())
            {
                waited.Elapsed.Should().BeLessThan(Safety, "the source is read until the window is full");
                await Task.Delay(10);
            }

            await Task.Delay(200);
            whileHeld();
            first.IsCompleted.Should().BeFalse("nothing completes while the gate is closed");

            TestJobs.Gate.Set();
            var more = await first.WaitAsync(Safety);
            while (more)
            {
                results.Add(enumerator.Current);
                more = await enumerator.MoveNextAsync().AsTask().WaitAsync(Safety);
            }
        }
        finally
        {
            TestJobs.Gate.Set();
        }

        return results;
    }

    /// <summary>
    /// Takes the first result of <paramref name="stream"/>, then holds the consumer until <paramref name="full"/>, gives
    /// the source a moment to be read further if the window let it, runs <paramref name="whileHeld"/>, then returns every
    /// result.
    /// </summary>
    private static async Task<List<T>> ConsumerHeldAfterFirstAsync<T>(IAsyncEnumerable<T> stream, Func<bool> full, Action whileHeld)
    {
        var results = new List<T>();
        await using var enumerator = stream.GetAsyncEnumerator();
        (await enumerator.MoveNextAsync().AsTask().WaitAsync(Safety)).Should().BeTrue();
        results.Add(enumerator.Current);
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!full())
        {
            waited.Elapsed.Should().BeLessThan(Safety, "the source is read and the workers run until the window is full");
            await Task.Delay(10);
        }

        await Task.Delay(200);
        whileHeld();
        while (await enumerator.MoveNextAsync().AsTask().WaitAsync(Safety))
        {
            results.Add(enumerator.Current);
        }

        return results;
    }

    private sealed class CountingSource<T>(int count, Func<int, T> item)
    {
        private long _pulled;

        public long Pulled => Interlocked.Read(ref _pulled);

        public IEnumerable<T> Items()
        {
            for (var i = 0; i < count; i++)
            {
                Interlocked.Increment(ref _pulled);
                yield return item(i);
            }
        }
    }
}
