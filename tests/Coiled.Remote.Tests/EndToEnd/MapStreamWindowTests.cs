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

    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task MapStreamAsync_1024ItemsOf1MiBThroughSlowWorkers_BytesInFlightNeverExceedTheBudgetPlusOneItem()
    {
        const long Budget = 16 * MiB;
        var window = new StreamWindow(Cluster.StreamWindowItems, Budget);
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend() });
        var data = new byte[MiB];
        var source = new CountingSource<byte[]>(1024, _ => data);
        var stream = cluster.MapStreamCoreAsync<byte[], long>(
            (Func<byte[], long>)TestJobs.SlowLength, 1, ItemSource.From(source.Items()), ArgumentWriter<byte[]>.Instance, null, window, CancellationToken.None);

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
    public async Task MapStreamAsync_200000SmallItemsWithWorkersHeld_ItemWindowCapsTheSourceFarBelowTheBytes()
    {
        var window = new StreamWindow(Cluster.StreamWindowItems, ClusterOptions.DefaultStreamWindowBytes);
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend() });
        var source = new CountingSource<int>(200_000, i => i);
        var stream = cluster.MapStreamCoreAsync<int, int>(
            (Func<int, int>)TestJobs.IdentityWhenOpen, 1, ItemSource.From(source.Items()), ArgumentWriter<int>.Instance, null, window, CancellationToken.None);

        var values = await HeldThenOpenAsync(stream, () => source.Pulled == Cluster.StreamWindowItems, () =>
        {
            source.Pulled.Should().Be(Cluster.StreamWindowItems);
            window.PeakItems.Should().Be(Cluster.StreamWindowItems);

            // Items 0-65,535 as arguments: a one-element array header each, then 128 one-byte, 128 two-byte and 65,280
            // three-byte integers.
            window.BytesInFlight.Should().Be(65_536 + 128 + (128 * 2) + (65_280 * 3));
        });

        values.Should().Equal(Enumerable.Range(0, 200_000));
        window.PeakItems.Should().Be(Cluster.StreamWindowItems);
        window.PeakBytes.Should().BeLessThan(MiB);
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
