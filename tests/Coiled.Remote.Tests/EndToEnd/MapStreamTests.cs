using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>MapStreamAsync: ordered results, bounded memory, early exits and failures.</summary>
public sealed class MapStreamTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task MapStreamAsync_MillionItems_InOrderWithBoundedReadAhead()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend() });
        var source = new CountingSource(1_000_000);
        long expected = 0;
        long maxAhead = 0;

        await foreach (var value in cluster.MapStreamAsync(TestJobs.Identity, source.Items()).WithCancellation(CancellationToken.None))
        {
            value.Should().Be((int)expected);
            expected++;
            maxAhead = Math.Max(maxAhead, source.Pulled - expected);
        }

        expected.Should().Be(1_000_000);
        maxAhead.Should().BeLessThanOrEqualTo(Cluster.StreamWindowItems, "a stream never holds more than its window of items");
    }

    [Fact]
    public async Task MapStreamAsync_AsyncSource_YieldsResultsInOrder()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend() });

        var results = new List<double>();
        await foreach (var value in cluster.MapStreamAsync(TestJobs.Square, SlowSource(50)))
        {
            results.Add(value);
        }

        results.Should().Equal(Enumerable.Range(0, 50).Select(i => (double)i * i));
    }

    [Fact]
    public async Task MapStreamAsync_ConsumerBreaksEarly_StopsReadingTheSource()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend() });
        var source = new CountingSource(int.MaxValue);

        var taken = 0;
        await foreach (var value in cluster.MapStreamAsync(TestJobs.Identity, source.Items()))
        {
            if (++taken == 10)
            {
                break;
            }
        }

        var pulledAfterBreak = source.Pulled;
        await Task.Delay(200);
        source.Pulled.Should().Be(pulledAfterBreak, "the source is not read after the consumer stopped");
        pulledAfterBreak.Should().BeLessThanOrEqualTo(Cluster.StreamWindowItems + 10);
        (await cluster.SubmitAsync(TestJobs.Square, 4.0).WaitAsync(Safety)).Should().Be(16.0);
    }

    [Fact]
    public async Task MapStreamAsync_ItemThrows_ResultsBeforeItArriveThenRemoteException()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend() });
        var received = new List<double>();

        var act = async () =>
        {
            await foreach (var value in cluster.MapStreamAsync(TestJobs.FailOnSeven, Enumerable.Range(0, 20).Select(i => (double)i)))
            {
                received.Add(value);
            }
        };

        (await act.Should().ThrowAsync<RemoteException>()).Which.ItemIndex.Should().Be(7);
        received.Should().Equal(0, 1, 2, 3, 4, 5, 6);
    }

    [Fact]
    public async Task MapStreamAsync_SourceThrows_ExceptionReachesTheConsumer()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend() });

        var act = async () =>
        {
            await foreach (var _ in cluster.MapStreamAsync(TestJobs.Identity, BrokenSource()))
            {
            }
        };

        (await act.Should().ThrowAsync<InvalidDataException>()).Which.Message.Should().Be("source broke after 3 items");
    }

    private static async IAsyncEnumerable<double> SlowSource(int count)
    {
        for (var i = 0; i < count; i++)
        {
            if (i % 10 == 0)
            {
                await Task.Delay(5);
            }

            yield return i;
        }
    }

    private static IEnumerable<int> BrokenSource()
    {
        yield return 1;
        yield return 2;
        yield return 3;
        throw new InvalidDataException("source broke after 3 items");
    }

    private sealed class CountingSource(int count)
    {
        private long _pulled;

        public long Pulled => Interlocked.Read(ref _pulled);

        public IEnumerable<int> Items()
        {
            for (var i = 0; i < count; i++)
            {
                Interlocked.Increment(ref _pulled);
                yield return i;
            }
        }
    }
}
