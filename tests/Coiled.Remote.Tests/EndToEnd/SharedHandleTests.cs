using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>
/// A value shared with <see cref="Cluster.ShareAsync{T}(T, CancellationToken)"/> crosses to each worker once, whatever
/// the calls that pass its handle, is let go of when the handle is disposed, and is sent again to a worker that dropped
/// it or lost it: real worker processes over loopback.
/// </summary>
public sealed class SharedHandleTests
{
    private const int ModelBytes = 10_000_000;

    /// <summary>A byte[] is written as bin 32: a 5-byte header and the bytes.</summary>
    private const int SerializedModelBytes = ModelBytes + 5;

    /// <summary>What a task's arguments carry for a handle: an ext 8 header and the SHA-256.</summary>
    private const int ReferenceBytes = 35;

    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task ShareAsync_HandlePassedInTwoCalls_TheValueCrossesOnce()
    {
        using var cache = new TempDirectory();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new LocalProcessBackend { CacheDirectory = cache.Path } });
        var model = Model(seed: 1);
        await using var shared = await cluster.ShareAsync(model);

        var scores = await cluster.MapAsync(TestJobs.ScoreShared, Enumerable.Range(0, 20).Select(i => (shared, i))).WaitAsync(Safety);
        var again = await cluster.SubmitAsync(TestJobs.ScoreShared, shared, 20).WaitAsync(Safety);

        shared.Value.Should().BeSameAs(model, "the caller's handle holds the value it was given");
        scores.Should().Equal(Enumerable.Range(0, 20).Select(i => Expected(model, i)));
        again.Should().Be(Expected(model, 20));
        cluster.Scheduler.Metrics.SharedValuesSent.Should().Be(1, "the worker kept the value between the calls");
        cluster.Summary.ArgumentBytes.Should().BeInRange(SerializedModelBytes, SerializedModelBytes + 2048, "the model went once, and 21 items of a reference and an index");
        cluster.Summary.ArgumentBytesSaved.Should().Be((21L * (SerializedModelBytes - ReferenceBytes)) - SerializedModelBytes);
    }

    [Fact]
    public async Task MapAsync_Handle_EachWorkerReadsTheValueOnceForEveryTask()
    {
        using var cache = new TempDirectory();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new LocalProcessBackend { CacheDirectory = cache.Path } });
        var model = Model(seed: 2);
        await using var shared = await cluster.ShareAsync(model);

        var seen = await cluster.MapAsync(TestJobs.ScoreSharedWhere, Enumerable.Range(0, 50).Select(i => (shared, i))).WaitAsync(Safety);

        seen.Select(s => s.Score).Should().Equal(Enumerable.Range(0, 50).Select(i => Expected(model, i)));
        foreach (var worker in seen.GroupBy(s => s.Worker))
        {
            worker.Select(s => s.Model).Distinct().Should().ContainSingle($"every task on worker {worker.Key} was handed the one model that worker read");
        }

        cluster.Scheduler.Metrics.SharedValuesSent.Should().Be(seen.Select(s => s.Worker).Distinct().Count(), "each worker that ran items got the model once");
    }

    [Fact]
    public async Task DisposeAsync_HandleUsedThenDisposed_TheWorkerDropsTheValueAndASecondShareSendsItAgain()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend() });
        var model = Model(seed: 3, bytes: 200_000);
        var first = await cluster.ShareAsync(model);
        (await cluster.SubmitAsync(TestJobs.ScoreShared, first, 1).WaitAsync(Safety)).Should().Be(Expected(model, 1));

        await first.DisposeAsync();
        await using var second = await cluster.ShareAsync(model);
        (await cluster.SubmitAsync(TestJobs.ScoreShared, second, 2).WaitAsync(Safety)).Should().Be(Expected(model, 2));

        var metrics = cluster.Scheduler.Metrics;
        metrics.SharedValuesDropped.Should().Be(1, "disposing the only handle told the worker to drop the value");
        metrics.SharedValuesSent.Should().Be(2, "the worker had dropped it, so the second handle's value went again");
        first.Value.Should().BeSameAs(model, "a disposed handle still holds its value on the caller");
    }

    [Fact]
    public async Task SubmitAsync_DisposedHandle_ThrowsArgumentExceptionNamingTheArgument()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend() });
        var shared = await cluster.ShareAsync(Model(seed: 4, bytes: 1000));
        await shared.DisposeAsync();

        var act = () => cluster.SubmitAsync(TestJobs.ScoreShared, shared, 1).WaitAsync(Safety);

        (await act.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Be(
            $"Argument 'model' of TestJobs.ScoreShared is a Shared<byte[]> that was disposed, so cluster {cluster.Id}'s workers let go of its value. " +
            "Dispose a handle only after the calls that pass it ended, or share the value again with ShareAsync.");
        cluster.Summary.ArgumentBytes.Should().Be(0, "nothing was sent");
    }

    [Fact]
    public async Task MapAsync_HandleOfAnotherCluster_ThrowsArgumentExceptionNamingBothClusters()
    {
        await using var first = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend() });
        await using var second = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend() });
        await using var shared = await first.ShareAsync(Model(seed: 5, bytes: 1000));

        var act = () => second.MapAsync(TestJobs.ScoreShared, Enumerable.Range(0, 3).Select(i => (shared, i))).WaitAsync(Safety);

        (await act.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Be(
            $"Argument 'model' of TestJobs.ScoreShared, item 0, is a Shared<byte[]> of cluster {first.Id}, not of this cluster {second.Id}: " +
            "a shared value is held by the workers of the cluster that shared it. Share the value with this cluster's ShareAsync and pass that handle.");
        second.Summary.ArgumentBytes.Should().Be(0);
    }

    [Fact]
    public async Task ShareAsync_ValueLargerThanTheBudget_ThrowsBeforeAnythingIsSent()
    {
        using var cache = new TempDirectory();
        var options = new ClusterOptions { Workers = 1, Backend = new LocalProcessBackend { CacheDirectory = cache.Path }, SharedValueBytes = 100_000 };
        await using var cluster = await Cluster.StartAsync(options);

        var act = () => cluster.ShareAsync(Model(seed: 6, bytes: 200_000));

        (await act.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Be(
            "The value passed to ShareAsync<byte[]> is 200,005 bytes serialized; each worker keeps at most 100,000 bytes of shared values, so it cannot be sent. " +
            "Nothing was sent. Share a smaller value, or put the data in storage the workers can read and pass its location. (Parameter 'value')");
        cluster.Summary.ArgumentBytes.Should().Be(0);
        cluster.Scheduler.Metrics.SharedValuesSent.Should().Be(0);
    }

    [Fact]
    public async Task MapAsync_HandleDroppedForOtherValuesUnderASmallBudget_IsSentAgainWhenNeeded()
    {
        using var cache = new TempDirectory();
        var options = new ClusterOptions { Workers = 1, Backend = new LocalProcessBackend { CacheDirectory = cache.Path }, SharedValueBytes = 300_000 };
        await using var cluster = await Cluster.StartAsync(options);
        var model = Model(seed: 7, bytes: 100_000);
        await using var shared = await cluster.ShareAsync(model);
        (await cluster.MapAsync(TestJobs.ScoreShared, Enumerable.Range(0, 5).Select(i => (shared, i))).WaitAsync(Safety))
            .Should().Equal(Enumerable.Range(0, 5).Select(i => Expected(model, i)));

        // Five other models of 100 kB, each in ten items: at most two fit beside each other, and the handle's is the least recently used.
        var others = Enumerable.Range(0, 5).Select(k => Model(seed: 70 + k, bytes: 100_000)).ToArray();
        var items = (from other in others from i in Enumerable.Range(0, 10) select (other, i)).ToList();
        (await cluster.MapAsync(TestJobs.Score, items).WaitAsync(Safety)).Should().Equal(items.Select(item => Expected(item.other, item.i)));
        var sentBefore = cluster.Scheduler.Metrics.SharedValuesSent;

        var scores = await cluster.MapAsync(TestJobs.ScoreShared, Enumerable.Range(0, 5).Select(i => (shared, i))).WaitAsync(Safety);

        scores.Should().Equal(Enumerable.Range(0, 5).Select(i => Expected(model, i)));
        cluster.Scheduler.Metrics.SharedValuesSent.Should().Be(sentBefore + 1, "the worker had dropped the handle's value for the others, and got it again once");
        cluster.Scheduler.Metrics.SharedValueBytesPeak.Should().BeLessThanOrEqualTo(300_000);
    }

    [Fact]
    public async Task MapAsync_ExecutorDiesMidCall_ItsReplacementGetsTheHandlesValueAgain()
    {
        using var cache = new TempDirectory();
        using var temp = new TempDirectory();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new LocalProcessBackend { CacheDirectory = cache.Path } });
        var model = Model(seed: 8);
        var marker = Path.Combine(temp.Path, "exited");
        await using var shared = await cluster.ShareAsync(model);

        var scores = await cluster.MapAsync(TestJobs.ScoreSharedOrExit, Enumerable.Range(0, 50).Select(i => (shared, i, 20, marker))).WaitAsync(Safety);

        File.Exists(marker).Should().BeTrue("item 20 ended its executor once");
        scores.Should().Equal(Enumerable.Range(0, 50).Select(i => Expected(model, i)));
        cluster.Scheduler.Metrics.SharedValuesSent.Should().Be(2, "the new executor of the same worker holds nothing until it is sent the model again");
    }

    [LinuxFact]
    public async Task MapAsync_WorkerLostAndReplaced_TheReplacementGetsTheHandlesValue()
    {
        using var cache = new TempDirectory();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new LocalProcessBackend { CacheDirectory = cache.Path } });
        var model = Model(seed: 9);
        await using var shared = await cluster.ShareAsync(model);
        var items = Enumerable.Range(0, 50).Select(i => (shared, i)).ToList();
        (await cluster.MapAsync(TestJobs.ScoreShared, items).WaitAsync(Safety)).Should().Equal(items.Select(item => Expected(model, item.i)));
        var (victim, replacement) = await WorkerKill.KillOneAndAwaitReplacementAsync(cluster);

        var seen = await cluster.MapAsync(TestJobs.ScoreSharedWhere, items).WaitAsync(Safety);

        seen.Select(s => s.Score).Should().Equal(items.Select(item => Expected(model, item.i)));
        seen.Select(s => s.Worker).Should().Contain(replacement, "the replacement ran items that refer to the model, which it was sent");
        seen.Select(s => s.Worker).Should().NotContain(victim);
    }

    [Fact]
    public async Task MapStreamAsync_Handle_TheValueCrossesOnce()
    {
        using var cache = new TempDirectory();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new LocalProcessBackend { CacheDirectory = cache.Path } });
        var model = Model(seed: 10);
        await using var shared = await cluster.ShareAsync(model);

        var scores = new List<long>();
        await foreach (var score in cluster.MapStreamAsync(TestJobs.ScoreShared, Enumerable.Range(0, 20).Select(i => (shared, i))))
        {
            scores.Add(score);
        }

        scores.Should().Equal(Enumerable.Range(0, 20).Select(i => Expected(model, i)));
        cluster.Scheduler.Metrics.SharedValuesSent.Should().Be(1);
        cluster.Summary.ArgumentBytes.Should().BeInRange(SerializedModelBytes, SerializedModelBytes + 2048);
    }

    private static byte[] Model(int seed, int bytes = ModelBytes)
    {
        var model = new byte[bytes];
        new Random(seed).NextBytes(model);
        return model;
    }

    private static long Expected(byte[] model, int i) => (model.Length * 256L) + model[i];
}
