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

        // A read of the source under way when the consumer stopped may still end; none starts after it.
        await Task.Delay(200);
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

    [Fact]
    public async Task MapStreamAsync_SynchronousSourceThatWaitsForResults_GetsEachResultBeforeGivingTheNextItem()
    {
        // A feedback source: each item is given only after the result of the one before came back. Blocking in MoveNext
        // must not hold back the item already given, or the stream and its source wait for each other forever.
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend() });
        using var resultArrived = new SemaphoreSlim(0);

        var results = new List<int>();
        await foreach (var value in cluster.MapStreamAsync(TestJobs.Identity, Feedback(resultArrived)).WithCancellation(CancellationToken.None))
        {
            results.Add(value);
            resultArrived.Release();
        }

        results.Should().Equal(Enumerable.Range(0, 20));

        static IEnumerable<int> Feedback(SemaphoreSlim resultArrived)
        {
            for (var i = 0; i < 20; i++)
            {
                yield return i;
                resultArrived.Wait(Safety).Should().BeTrue($"the result of item {i} arrives while the source waits for it");
            }
        }
    }

    [Fact]
    public async Task MapStreamAsync_ConsumerBreaksWhileTheSourceBlocks_EndsWithoutWaitingForTheSource()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend() });
        using var release = new ManualResetEventSlim();
        var disposed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            var taken = 0;
            await foreach (var value in cluster.MapStreamAsync(TestJobs.Identity, BlocksAfterFive(release, disposed)).WithCancellation(CancellationToken.None))
            {
                if (++taken == 3)
                {
                    break;
                }
            }

            taken.Should().Be(3);
            disposed.Task.IsCompleted.Should().BeFalse("the source is still blocked in MoveNext, and the stream did not wait for it");
        }
        finally
        {
            release.Set();
        }

        await disposed.Task.WaitAsync(Safety);
        (await cluster.SubmitAsync(TestJobs.Square, 4.0).WaitAsync(Safety)).Should().Be(16.0);

        static IEnumerable<int> BlocksAfterFive(ManualResetEventSlim release, TaskCompletionSource disposed)
        {
            try
            {
                for (var i = 0; i < 5; i++)
                {
                    yield return i;
                }

                release.Wait();
                yield return 5;
            }
            finally
            {
                disposed.SetResult();
            }
        }
    }

    [Fact]
    public async Task MapStreamAsync_SourceThrowsAfterFiftyItems_TheirResultsArriveThenTheSourcesException()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend() });
        var received = new List<int>();

        var act = async () =>
        {
            await foreach (var value in cluster.MapStreamAsync(TestJobs.Identity, ThrowsAfterFifty()).WithCancellation(CancellationToken.None))
            {
                received.Add(value);
            }
        };

        (await act.Should().ThrowAsync<InvalidOperationException>()).Which.Message.Should().Be("the source broke after 50 items");
        received.Should().Equal(Enumerable.Range(0, 50), "items the source gave before it threw were run and their results handed out");

        static IEnumerable<int> ThrowsAfterFifty()
        {
            for (var i = 0; i < 50; i++)
            {
                yield return i;
            }

            throw new InvalidOperationException("the source broke after 50 items");
        }
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
