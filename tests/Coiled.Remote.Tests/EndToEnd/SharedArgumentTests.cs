using Coiled.Remote.Tests.Support;
using Coiled.Remote.Worker;
using Coiled.Remote.Worker.Executors;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>
/// A large argument object that comes again (the same object in many items, or in calls one after another) travels to
/// each worker once, and the tasks that pass it carry a reference to it: real worker processes over loopback.
/// </summary>
public sealed class SharedArgumentTests
{
    private const int ModelBytes = 10_000_000;
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task MapAsync_OneTenMegabyteModelInFiftyItems_SendsItAboutOncePerWorker()
    {
        using var cache = new TempDirectory();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new LocalProcessBackend { CacheDirectory = cache.Path } });
        var model = Model(seed: 1);

        var scores = await cluster.MapAsync(TestJobs.Score, Enumerable.Range(0, 50).Select(i => (model, i))).WaitAsync(Safety);

        scores.Should().Equal(Enumerable.Range(0, 50).Select(i => Expected(model, i)));
        cluster.Summary.ArgumentBytes.Should().BeLessThanOrEqualTo(2L * ModelBytes * 2, "the model goes to each of the 2 workers once, and inline with the first item")
            .And.BeGreaterThanOrEqualTo(ModelBytes);
        cluster.Summary.ArgumentBytesSaved.Should().BeGreaterThan(45L * ModelBytes, "49 items carried a reference instead of the model, which went to at most 2 workers");
        cluster.Scheduler.Metrics.SharedValuesSent.Should().BeInRange(1, 2);
    }

    [Fact]
    public async Task MapOutcomesAsync_OneModelInEveryItemAndOneItemFails_SharesItAndKeepsTheOtherResults()
    {
        using var cache = new TempDirectory();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new LocalProcessBackend { CacheDirectory = cache.Path } });
        var model = Model(seed: 8, bytes: 1_000_000);
        var indexes = Enumerable.Range(0, 40).Append(2_000_000).ToList();

        var outcomes = await cluster.MapOutcomesAsync(TestJobs.Score, indexes.Select(i => (model, i))).WaitAsync(Safety);

        outcomes.Take(40).Select(o => o.Value).Should().Equal(Enumerable.Range(0, 40).Select(i => Expected(model, i)));
        outcomes[40].Error.Should().BeOfType<RemoteException>().Which.RemoteType.Should().Be("System.IndexOutOfRangeException");
        cluster.Summary.ArgumentBytes.Should().BeLessThanOrEqualTo(2L * 1_000_000 * 2);
    }

    [Fact]
    public async Task MapAsync_InProcessWorkers_GetTheModelOnceInTheirTaskStreams()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend() });
        var model = Model(seed: 6);

        var scores = await cluster.MapAsync(TestJobs.Score, Enumerable.Range(0, 50).Select(i => (model, i))).WaitAsync(Safety);

        scores.Should().Equal(Enumerable.Range(0, 50).Select(i => Expected(model, i)));
        cluster.Summary.ArgumentBytes.Should().BeLessThanOrEqualTo(2L * ModelBytes * 2);
    }

    [LinuxFact]
    public async Task MapAsync_StreamRelayedByTheDaemon_TheModelGoesOnceOnTheBulkDataConnection()
    {
        const string Token = "shared-argument-token-0123456789";
        using var cache = new TempDirectory();
        await using var host = await RelayedWorkerHost.StartAsync(Token, cache.Path);
        await using var cluster = await Cluster.ConnectAsync([new WorkerEndpoint(host.Address)], Token).WaitAsync(Safety);
        var model = Model(seed: 7);

        var scores = await cluster.MapAsync(TestJobs.Score, Enumerable.Range(0, 50).Select(i => (model, i))).WaitAsync(Safety);

        scores.Should().Equal(Enumerable.Range(0, 50).Select(i => Expected(model, i)));
        host.Runtime.BulkArgumentBatches.Should().Be(2, "the first item's batch carried the model, which then went once to be shared");
        cluster.Summary.ArgumentBytes.Should().BeLessThanOrEqualTo((2L * ModelBytes) + 4096);
    }

    [Fact]
    public async Task MapAsync_SharedModel_EachWorkerReadsItOnceAndHandsEveryTaskTheSameObject()
    {
        using var cache = new TempDirectory();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new LocalProcessBackend { CacheDirectory = cache.Path } });
        var model = Model(seed: 2);

        var seen = await cluster.MapAsync(TestJobs.ScoreWhere, Enumerable.Range(0, 50).Select(i => (model, i))).WaitAsync(Safety);

        seen.Select(s => s.Score).Should().Equal(Enumerable.Range(0, 50).Select(i => Expected(model, i)));
        foreach (var worker in seen.Skip(1).GroupBy(s => s.Worker))
        {
            worker.Select(s => s.Model).Distinct().Should().ContainSingle($"every task on worker {worker.Key} after the first item was handed the one model that worker read");
        }
    }

    [Fact]
    public async Task SubmitAsync_SameModelAgain_SendsOnlyAReferenceUntilItChanges()
    {
        using var cache = new TempDirectory();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new LocalProcessBackend { CacheDirectory = cache.Path } });
        var model = Model(seed: 3);
        (await cluster.SubmitAsync(TestJobs.Score, model, 5).WaitAsync(Safety)).Should().Be(Expected(model, 5));
        (await cluster.SubmitAsync(TestJobs.Score, model, 6).WaitAsync(Safety)).Should().Be(Expected(model, 6));
        var shared = cluster.Summary.ArgumentBytes;

        (await cluster.SubmitAsync(TestJobs.Score, model, 7).WaitAsync(Safety)).Should().Be(Expected(model, 7));
        var unchanged = cluster.Summary.ArgumentBytes - shared;
        model[8] ^= 0xFF;
        (await cluster.SubmitAsync(TestJobs.Score, model, 8).WaitAsync(Safety)).Should().Be(Expected(model, 8), "the worker scores the changed model");
        var changed = cluster.Summary.ArgumentBytes - shared - unchanged;

        shared.Should().BeInRange(2L * ModelBytes, (2L * ModelBytes) + 1024, "the first call sent the model with its task, the second shared it");
        unchanged.Should().BeLessThan(1024, "the worker holds the unchanged model: only a reference went");
        changed.Should().BeInRange(ModelBytes, ModelBytes + 1024, "the changed model has a new hash and went again, once");
    }

    [Fact]
    public async Task MapAsync_ModelChangedBetweenCalls_IsSentAgainAndResultsFollowTheChange()
    {
        using var cache = new TempDirectory();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new LocalProcessBackend { CacheDirectory = cache.Path } });
        var model = Model(seed: 4);
        var items = Enumerable.Range(0, 50).Select(i => (model, i));
        (await cluster.MapAsync(TestJobs.Score, items).WaitAsync(Safety)).Should().Equal(Enumerable.Range(0, 50).Select(i => Expected(model, i)));
        var first = cluster.Summary.ArgumentBytes;

        for (var i = 0; i < 50; i++)
        {
            model[i] = (byte)(model[i] + 1);
        }

        var scores = await cluster.MapAsync(TestJobs.Score, items).WaitAsync(Safety);

        scores.Should().Equal(Enumerable.Range(0, 50).Select(i => Expected(model, i)), "every task sees the model as it was when the call began");
        (cluster.Summary.ArgumentBytes - first).Should().BeInRange(ModelBytes, 2L * ModelBytes + 4096, "the changed model went to each worker that ran its items, once, and no item carried it");
    }

    [Fact]
    public async Task MapStreamAsync_OneModelInEveryItem_SendsItOnce()
    {
        using var cache = new TempDirectory();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new LocalProcessBackend { CacheDirectory = cache.Path } });
        var model = Model(seed: 5);

        var scores = new List<long>();
        await foreach (var score in cluster.MapStreamAsync(TestJobs.Score, Enumerable.Range(0, 20).Select(i => (model, i))))
        {
            scores.Add(score);
        }

        scores.Should().Equal(Enumerable.Range(0, 20).Select(i => Expected(model, i)));
        cluster.Scheduler.Metrics.SharedValuesSent.Should().Be(1);
        cluster.Summary.ArgumentBytes.Should().BeInRange(2L * ModelBytes, (2L * ModelBytes) + 4096, "the first item carried the model, which then went once to be shared");
    }

    [Fact]
    public async Task MapStreamAsync_ModelsOneAfterAnother_EachIsSharedAndTheResultsFollowThem()
    {
        using var cache = new TempDirectory();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new LocalProcessBackend { CacheDirectory = cache.Path } });
        var models = Enumerable.Range(0, 8).Select(k => Model(seed: 50 + k, bytes: 200_000)).ToArray();

        async IAsyncEnumerable<(byte[], int)> Items()
        {
            foreach (var model in models)
            {
                for (var i = 0; i < 10; i++)
                {
                    await Task.Yield();
                    yield return (model, i);
                }
            }
        }

        var scores = new List<long>();
        await foreach (var score in cluster.MapStreamAsync(TestJobs.Score, Items()))
        {
            scores.Add(score);
        }

        scores.Should().Equal(from model in models from i in Enumerable.Range(0, 10) select Expected(model, i));
        cluster.Scheduler.Metrics.SharedValuesSent.Should().BeInRange(8, 16, "each model went to each worker that ran its items at most once");
        cluster.Summary.ArgumentBytes.Should().BeLessThan(8L * 4 * 200_100, "no model travelled with more than its first item and once per worker");
    }

    [Fact]
    public async Task MapAsync_ModelsBeyondASmallBudget_WorkersDropTheLeastRecentlyUsedAndGetThemAgain()
    {
        using var cache = new TempDirectory();
        var options = new ClusterOptions { Workers = 1, Backend = new LocalProcessBackend { CacheDirectory = cache.Path }, SharedValueBytes = 300_000 };
        await using var cluster = await Cluster.StartAsync(options);
        var models = Enumerable.Range(0, 5).Select(k => Model(seed: 10 + k, bytes: 100_000)).ToArray();
        var items = (from round in Enumerable.Range(0, 2) from model in models from i in Enumerable.Range(0, 10) select (model, i)).ToList();

        var scores = await cluster.MapAsync(TestJobs.Score, items).WaitAsync(Safety);

        scores.Should().Equal(items.Select(item => Expected(item.model, item.i)));
        var metrics = cluster.Scheduler.Metrics;
        metrics.SharedValueBytesPeak.Should().BeLessThanOrEqualTo(300_000, "the worker never holds more than its budget");
        metrics.SharedValuesDropped.Should().BeGreaterThanOrEqualTo(2, "five models of 100 kB do not fit in 300 kB");
        metrics.SharedValuesSent.Should().BeGreaterThan(5, "the second round needs models the worker dropped");
    }

    [Fact]
    public async Task MapAsync_RepeatedModelLargerThanTheBudget_FailsSayingSoBeforeAnythingIsSent()
    {
        using var cache = new TempDirectory();
        var options = new ClusterOptions { Workers = 1, Backend = new LocalProcessBackend { CacheDirectory = cache.Path }, SharedValueBytes = 100_000 };
        await using var cluster = await Cluster.StartAsync(options);
        var model = Model(seed: 20, bytes: 200_000);

        var act = () => cluster.MapAsync(TestJobs.Score, Enumerable.Range(0, 10).Select(i => (model, i))).WaitAsync(Safety);

        (await act.Should().ThrowAsync<ArgumentException>()).Which.Message.Should()
            .Be("Item 1 of TestJobs.Score passes 1 repeated argument value(s) of 200,005 bytes together, which are sent to each worker once and kept there; " +
                "a worker keeps at most 100,000 bytes of them. Pass smaller values, or put the data in storage the workers can read and pass its location.");
        cluster.Summary.ArgumentBytes.Should().Be(0);
        (await cluster.SubmitAsync(TestJobs.Square, 3.0).WaitAsync(Safety)).Should().Be(9.0, "the cluster serves on");
    }

    [LinuxFact]
    public async Task MapAsync_WorkerLostAndReplaced_TheReplacementGetsTheModel()
    {
        using var cache = new TempDirectory();
        var backend = new LocalProcessBackend { CacheDirectory = cache.Path };
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = backend });
        var model = Model(seed: 30);
        var items = Enumerable.Range(0, 50).Select(i => (model, i)).ToList();
        (await cluster.MapAsync(TestJobs.Score, items).WaitAsync(Safety)).Should().Equal(items.Select(item => Expected(model, item.i)));
        var (victim, replacement) = await WorkerKill.KillOneAndAwaitReplacementAsync(cluster);

        var seen = await cluster.MapAsync(TestJobs.ScoreWhere, items).WaitAsync(Safety);

        seen.Select(s => s.Score).Should().Equal(items.Select(item => Expected(model, item.i)));
        seen.Select(s => s.Worker).Should().Contain(replacement, "the replacement ran items that refer to the model, which it was sent");
        seen.Select(s => s.Worker).Should().NotContain(victim);
    }

    [Fact]
    public async Task MapAsync_ExecutorDiesMidCall_ItsReplacementGetsTheModelAgain()
    {
        using var cache = new TempDirectory();
        using var temp = new TempDirectory();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new LocalProcessBackend { CacheDirectory = cache.Path } });
        var model = Model(seed: 40);
        var marker = Path.Combine(temp.Path, "exited");

        var scores = await cluster.MapAsync(TestJobs.ScoreOrExit, Enumerable.Range(0, 50).Select(i => (model, i, 20, marker))).WaitAsync(Safety);

        File.Exists(marker).Should().BeTrue("item 20 ended its executor once");
        scores.Should().Equal(Enumerable.Range(0, 50).Select(i => Expected(model, i)));
        cluster.Scheduler.Metrics.SharedValuesSent.Should().Be(2, "the new executor of the same worker holds nothing until it is sent the model again");
    }

    private static byte[] Model(int seed, int bytes = ModelBytes)
    {
        var model = new byte[bytes];
        new Random(seed).NextBytes(model);
        return model;
    }

    private static long Expected(byte[] model, int i) => (model.Length * 256L) + model[i];
}
