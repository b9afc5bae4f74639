using Coiled.Remote.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>
/// <see cref="ClusterOptions.MinimumWorkers"/>: the start returns once that many real worker processes are connected,
/// synchronized and open; the others join the running cluster and take work in calls already running, and one that
/// never comes is logged, not thrown into calls.
/// </summary>
public sealed class ProgressiveStartTests : IDisposable
{
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);
    private readonly TempDirectory _cache = new();

    public void Dispose() => _cache.Dispose();

    [LinuxFact]
    public async Task StartAsync_MinimumOneOfThreeOthersLate_ReturnsWithOneAndLateWorkersJoinARunningMap()
    {
        var backend = Backend(3);
        var progress = new SynchronousProgress<ClusterProgress>();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 3, MinimumWorkers = 1, Backend = backend, Progress = progress }).WaitAsync(Safety);

        cluster.Workers.Should().ContainSingle().Which.State.Should().Be(WorkerState.Ready);
        await backend.AllStarted.WaitAsync(Safety);
        using var gate = new TaskGate();
        var map = cluster.MapAsync(TestJobs.IdentityWhenReleasedAsync, Enumerable.Range(0, 12).Select(i => (i, gate.Folder)));
        await gate.WaitUntilAsync(started => started.Count >= 1, "the first worker runs an item");

        backend.Release(1);
        backend.Release(2);
        var started = await gate.WaitUntilAsync(s => s.Select(t => t.ProcessId).Distinct().Count() == 3, "each late worker runs an item of the running map");
        gate.Release();

        (await map.WaitAsync(Safety)).Should().Equal(Enumerable.Range(0, 12));
        started.Select(t => t.ProcessId).Distinct().Should().BeEquivalentTo(backend.ProcessIds, "the late workers took items of the call that was running");
        cluster.Workers.Should().HaveCount(3).And.OnlyContain(w => w.State == WorkerState.Ready);
        progress.Reports.Where(r => r.Phase == "starting workers").Select(r => r.WorkersReady).Should().Equal(0, 1);
        progress.Reports.Should().Contain(r => r.Phase == "running" && r.WorkersReady == 3 && r.WorkersRequested == 3);
    }

    [LinuxFact]
    public async Task StartAsync_LateWorkerFailsAfterTheStartReturned_ClusterRunsOnAndLogsIt()
    {
        var backend = Backend(2);
        using var logs = new CapturingLoggerProvider();
        using var loggerFactory = logs.CreateFactory();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, MinimumWorkers = 1, Backend = backend, LoggerFactory = loggerFactory }).WaitAsync(Safety);

        backend.Fail(1, new ClusterStartException("machine 2 did not boot"));
        await Eventually.HoldsAsync(() => logs.Entries.Any(e => e.Message.Contains("did not come", StringComparison.Ordinal)), "the late failure is logged");

        var warning = logs.Entries.Single(e => e.Message.Contains("did not come", StringComparison.Ordinal));
        warning.Level.Should().Be(LogLevel.Warning);
        warning.Message.Should().Be("1 worker(s) (not started) did not come; the cluster goes on with the 1 of 2 that did: machine 2 did not boot");
        (await cluster.MapAsync(TestJobs.Square, [1.0, 2.0, 3.0]).WaitAsync(Safety)).Should().Equal(1.0, 4.0, 9.0);
        cluster.Workers.Should().ContainSingle();
    }

    [LinuxFact]
    public async Task StartAsync_FewerThanMinimumEverCome_ThrowsNamingWhatCameAndStopsEveryWorker()
    {
        var backend = Backend(3);
        var progress = new SynchronousProgress<ClusterProgress>();
        var start = Cluster.StartAsync(new ClusterOptions { Workers = 3, MinimumWorkers = 2, Backend = backend, Progress = progress });
        await Eventually.HoldsAsync(() => progress.Reports.Any(r => r.WorkersReady == 1), "the first worker is ready");

        backend.Fail(1, new ClusterStartException("machine 2 did not boot"));

        var thrown = (await start.Awaiting(s => s.WaitAsync(Safety)).Should().ThrowAsync<ClusterStartException>()).Which;
        thrown.Message.Should().MatchRegex(
            "^The cluster needs at least 2 of 3 worker\\(s\\) \\(ClusterOptions\\.MinimumWorkers\\) and 1 came \\(w-[0-9a-f]{6} at http://127\\.0\\.0\\.1:\\d+/\\); " +
            "2 did not: machine 2 did not boot$");
        backend.ProcessIds.Should().HaveCount(3);
        await ProcessAssert.AllExitAsync(backend.ProcessIds, Safety);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public async Task StartAsync_MinimumWorkersOutsideOneToWorkers_ThrowsArgumentOutOfRangeSayingTheRange(int minimum)
    {
        var start = () => Cluster.StartAsync(new ClusterOptions { Workers = 3, MinimumWorkers = minimum, Backend = new InProcessBackend() });

        (await start.Should().ThrowAsync<ArgumentOutOfRangeException>()).Which.Message.Should().StartWith(
            $"ClusterOptions.MinimumWorkers is {minimum}; it must be from 1 to the 3 worker(s) the cluster starts (ClusterOptions.Workers), or unset to wait for all of them.");
    }

    private GatedBackend Backend(int workers) => new(new LocalProcessBackend { CacheDirectory = _cache.Path, SlotsPerWorker = 1 }, workers);
}
