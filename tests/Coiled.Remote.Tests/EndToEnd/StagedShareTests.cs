using System.Security.Cryptography;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Worker;
using Coiled.Remote.Worker.Executors;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>
/// On a cluster with staging storage (an EC2 cluster's S3 bucket; here <see cref="LoopbackBlobStaging"/>), a shared value
/// of 1 MiB or more goes there once and each worker fetches it, instead of the caller sending it to every worker: real
/// worker processes over loopback, the value read on a direct route, on a stream the daemon relays, and in the
/// caller's process.
/// </summary>
public sealed class StagedShareTests
{
    private const int ModelBytes = 10_000_000;

    /// <summary>A byte[] is written as bin 32: a 5-byte header and the bytes.</summary>
    private const int SerializedModelBytes = ModelBytes + 5;

    private const string Token = "staged-share-token-0123456789abcdef";

    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task MapAsync_HandleOnTwoWorkers_TheCallerStagesTheValueOnceAndEachWorkerFetchesItInsteadOfReceivingIt()
    {
        using var cache = new TempDirectory();
        await using var staging = await LoopbackBlobStaging.StartAsync();
        var backend = new StagingBackend(new LocalProcessBackend { CacheDirectory = cache.Path }, staging);
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = backend });
        var model = Model(seed: 1);
        var hash = Hash(model);
        await using var shared = await cluster.ShareAsync(model);

        var seen = await cluster.MapAsync(TestJobs.ScoreSharedWhere, Enumerable.Range(0, 40).Select(i => (shared, i))).WaitAsync(Safety);
        var again = await cluster.SubmitAsync(TestJobs.ScoreShared, shared, 40).WaitAsync(Safety);

        seen.Select(s => s.Score).Should().Equal(Enumerable.Range(0, 40).Select(i => Expected(model, i)));
        again.Should().Be(Expected(model, 40));
        var workers = seen.Select(s => s.Worker).Distinct().Count();
        staging.Staged.Where(h => h == hash).Should().ContainSingle("the caller uploads the value once for the whole cluster");
        staging.Fetched.Count(h => h == hash).Should().Be(workers, "each worker that ran items fetched the value once, and kept it for the second call");
        cluster.Scheduler.Metrics.SharedValuesSent.Should().Be(workers);
        cluster.Summary.SharedValueBytesStaged.Should().Be(workers * (long)SerializedModelBytes);
        cluster.Summary.ArgumentBytes.Should().BeLessThan(4096, "only references and indexes went over the workers' connections");
    }

    [Fact]
    public async Task MapAsync_RepeatedArgument_GoesThroughStagingToo()
    {
        using var cache = new TempDirectory();
        await using var staging = await LoopbackBlobStaging.StartAsync();
        var backend = new StagingBackend(new LocalProcessBackend { CacheDirectory = cache.Path }, staging);
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = backend });
        var model = Model(seed: 2);

        var scores = await cluster.MapAsync(TestJobs.Score, Enumerable.Range(0, 30).Select(i => (model, i))).WaitAsync(Safety);

        scores.Should().Equal(Enumerable.Range(0, 30).Select(i => Expected(model, i)));
        staging.Fetched.Where(h => h == Hash(model)).Should().ContainSingle();
        cluster.Summary.SharedValueBytesStaged.Should().Be(SerializedModelBytes);
        cluster.Summary.ArgumentBytes.Should().BeLessThan(SerializedModelBytes + 4096, "the first item's batch carries the model before it is known to repeat; the rest refer to the staged copy");
    }

    [LinuxFact]
    public async Task MapAsync_StreamRelayedByTheDaemon_TheExecutorReadsTheFetchedValue()
    {
        using var cache = new TempDirectory();
        await using var host = await RelayedWorkerHost.StartAsync(Token, cache.Path);
        await using var staging = await LoopbackBlobStaging.StartAsync();
        var backend = new StagingBackend(new ConnectedBackend([new WorkerEndpoint(host.Address)]), staging);
        await using var cluster = await Cluster.StartCoreAsync(new ClusterOptions { Workers = 1, ReplaceLostWorkers = false }, backend, Token, CancellationToken.None).WaitAsync(Safety);
        var model = Model(seed: 3);
        await using var shared = await cluster.ShareAsync(model);

        var scores = await cluster.MapAsync(TestJobs.ScoreShared, Enumerable.Range(0, 20).Select(i => (shared, i))).WaitAsync(Safety);

        scores.Should().Equal(Enumerable.Range(0, 20).Select(i => Expected(model, i)));
        staging.Fetched.Where(h => h == Hash(model)).Should().ContainSingle();
        host.Runtime.BulkArgumentBatches.Should().Be(0, "the value went through staging, not on the bulk-data connection");
        cluster.Summary.SharedValueBytesStaged.Should().Be(SerializedModelBytes);
    }

    [Fact]
    public async Task MapAsync_InProcessWorker_ReadsTheFetchedValue()
    {
        await using var staging = await LoopbackBlobStaging.StartAsync();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new StagingBackend(new InProcessBackend(), staging) });
        var model = Model(seed: 4);
        await using var shared = await cluster.ShareAsync(model);

        var scores = await cluster.MapAsync(TestJobs.ScoreShared, Enumerable.Range(0, 20).Select(i => (shared, i))).WaitAsync(Safety);

        scores.Should().Equal(Enumerable.Range(0, 20).Select(i => Expected(model, i)));
        staging.Fetched.Should().Equal([Hash(model)], "an in-process worker syncs nothing, and fetches the value once");
        cluster.Summary.SharedValueBytesStaged.Should().Be(SerializedModelBytes);
    }

    [Fact]
    public async Task MapAsync_StagingFails_TheValueGoesOverTheConnectionAndAWarningSaysWhy()
    {
        using var logs = new CapturingLoggerProvider();
        await using var staging = await LoopbackBlobStaging.StartAsync();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 1,
            Backend = new StagingBackend(new InProcessBackend(), staging),
            LoggerFactory = logs.CreateFactory(),
        });
        staging.Fail = new IOException("bucket refused the upload");
        var model = Model(seed: 5);
        await using var shared = await cluster.ShareAsync(model);

        var scores = await cluster.MapAsync(TestJobs.ScoreShared, Enumerable.Range(0, 10).Select(i => (shared, i))).WaitAsync(Safety);

        scores.Should().Equal(Enumerable.Range(0, 10).Select(i => Expected(model, i)));
        staging.Fetched.Should().BeEmpty();
        cluster.Summary.SharedValueBytesStaged.Should().Be(0);
        cluster.Summary.ArgumentBytes.Should().BeInRange(SerializedModelBytes, SerializedModelBytes + 2048);
        logs.Entries.Should().ContainSingle(e => e.Level == LogLevel.Warning && e.Message.Contains("staging storage failed"))
            .Which.Message.Should().Contain(Hash(model)).And.Contain("bucket refused the upload").And.Contain($"{SerializedModelBytes}");
    }

    [Fact]
    public async Task MapAsync_ValueUnderOneMebibyte_GoesOverTheConnection()
    {
        await using var staging = await LoopbackBlobStaging.StartAsync();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new StagingBackend(new InProcessBackend(), staging) });
        var model = Model(seed: 6, bytes: 500_000);
        await using var shared = await cluster.ShareAsync(model);

        var scores = await cluster.MapAsync(TestJobs.ScoreShared, Enumerable.Range(0, 10).Select(i => (shared, i))).WaitAsync(Safety);

        scores.Should().Equal(Enumerable.Range(0, 10).Select(i => Expected(model, i)));
        staging.Staged.Should().BeEmpty("below 1 MiB the round trips to the storage cost more than they save");
        cluster.Summary.SharedValueBytesStaged.Should().Be(0);
    }

    private static byte[] Model(int seed, int bytes = ModelBytes)
    {
        var model = new byte[bytes];
        new Random(seed).NextBytes(model);
        return model;
    }

    /// <summary>The SHA-256 of the model's serialized bytes (bin 32: 0xc6, the length big-endian, the bytes), as staged.</summary>
    private static string Hash(byte[] model)
    {
        var serialized = new byte[model.Length + 5];
        serialized[0] = 0xc6;
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(serialized.AsSpan(1), model.Length);
        model.CopyTo(serialized, 5);
        return Convert.ToHexStringLower(SHA256.HashData(serialized));
    }

    private static long Expected(byte[] model, int i) => (model.Length * 256L) + model[i];
}
