using System.Diagnostics;
using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>Starting, synchronizing, losing and stopping real worker processes.</summary>
public sealed class ClusterLifecycleTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task DisposeAsync_LocalCluster_StopsEveryWorkerProcess()
    {
        using var cache = new TempDirectory();
        var backend = new LocalProcessBackend { CacheDirectory = cache.Path };
        var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = backend });
        var pids = backend.ProcessIds;
        pids.Should().HaveCount(2).And.OnlyContain(pid => ProcessAssert.IsRunning(pid));

        await cluster.DisposeAsync();

        await ProcessAssert.AllExitAsync(pids, TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task StartAsync_UnchangedApplicationSecondTime_UploadsZeroBytes()
    {
        using var cache = new TempDirectory();

        SyncSummary first, second;
        await using (var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new LocalProcessBackend { CacheDirectory = cache.Path } }))
        {
            first = new SyncSummary(cluster.LastSync.BlobsSent, cluster.LastSync.BytesSent, cluster.LastSync.ManifestFiles);
            (await cluster.SubmitAsync(TestJobs.Square, 2.0).WaitAsync(Safety)).Should().Be(4.0);
        }

        await using (var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new LocalProcessBackend { CacheDirectory = cache.Path } }))
        {
            second = new SyncSummary(cluster.LastSync.BlobsSent, cluster.LastSync.BytesSent, cluster.LastSync.ManifestFiles);
            (await cluster.SubmitAsync(TestJobs.Square, 3.0).WaitAsync(Safety)).Should().Be(9.0);
        }

        first.BlobsSent.Should().BeGreaterThan(0);
        first.BytesSent.Should().BeGreaterThan(0);
        second.Should().Be(new SyncSummary(0, 0, first.ManifestFiles));
    }

    [Fact]
    public async Task StartAsync_WorkerPathDoesNotExist_ThrowsClusterStartExceptionNamingIt()
    {
        var act = () => Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new LocalProcessBackend { WorkerPath = "/nonexistent/coiled-remote-worker.dll" } });

        (await act.Should().ThrowAsync<ClusterStartException>()).Which.Message.Should()
            .Be("LocalProcessBackend.WorkerPath is /nonexistent/coiled-remote-worker.dll, but no file is there. Point it at coiled-remote-worker.dll.");
    }

    [Fact]
    public async Task StartAsync_IdleAndNoClientTimeouts_ReachTheBackendsWorkerLaunch()
    {
        // The backend records what the cluster asks of it and starts nothing, so the start fails at once, on purpose.
        var backend = new RecordingBackend();

        var start = () => Cluster.StartAsync(new ClusterOptions
        {
            Workers = 2,
            Backend = backend,
            IdleTimeout = TimeSpan.FromMinutes(7),
            NoClientTimeout = TimeSpan.FromMinutes(3),
        });

        await start.Should().ThrowAsync<ClusterStartException>();
        backend.Launch.Should().NotBeNull();
        backend.Launch!.Count.Should().Be(2);
        backend.Launch.IdleTimeout.Should().Be(TimeSpan.FromMinutes(7));
        backend.Launch.NoClientTimeout.Should().Be(TimeSpan.FromMinutes(3));
    }

    [LinuxFact]
    public async Task StartWorkersAsync_IdleAndNoClientTimeouts_ReachEveryLocalWorkersCommandLine()
    {
        using var cache = new TempDirectory();
        await using var backend = new LocalProcessBackend { CacheDirectory = cache.Path };
        await backend.StartWorkersAsync(
            new WorkerLaunch(2, "timeout-test-token-0123456789", TimeSpan.FromMinutes(7), TimeSpan.FromMinutes(3), Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance),
            CancellationToken.None);

        backend.ProcessIds.Should().HaveCount(2);
        foreach (var pid in backend.ProcessIds)
        {
            var arguments = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
            arguments[Array.IndexOf(arguments, "--idle-timeout") + 1].Should().Be("420");
            arguments[Array.IndexOf(arguments, "--no-client-timeout") + 1].Should().Be("180");
        }
    }

    [Theory]
    [InlineData(1, 600, "no work for * s (idle timeout 1 s)")]
    [InlineData(600, 1, "no client connected for * s (no-client timeout 1 s)")]
    public async Task StartWorkersAsync_ShortTimeout_LocalWorkerStopsItselfSayingWhy(int idleSeconds, int noClientSeconds, string reason)
    {
        // Started by the backend alone, so that no client connects and no start-up work resets the clocks.
        using var cache = new TempDirectory();
        using var logs = new CapturingLoggerProvider();
        using var loggerFactory = logs.CreateFactory();
        await using var backend = new LocalProcessBackend { CacheDirectory = cache.Path };
        await backend.StartWorkersAsync(
            new WorkerLaunch(1, "timeout-test-token-0123456789", TimeSpan.FromSeconds(idleSeconds), TimeSpan.FromSeconds(noClientSeconds), loggerFactory),
            CancellationToken.None);
        var pid = backend.ProcessIds.Single();

        await ProcessAssert.AllExitAsync([pid], Safety);

        // The worker prints why it stopped, and its backend logs the worker's output (read as it comes, so it may trail the exit).
        var line = $"worker {pid}: coiled-remote-worker w-*: stopped: {reason}";
        var deadline = DateTime.UtcNow + Safety;
        while (!logs.Entries.Any(e => System.IO.Enumeration.FileSystemName.MatchesSimpleExpression(line, e.Message)) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        logs.Entries.Select(e => e.Message).Should().ContainMatch(line);
    }

    [Fact]
    public async Task StartAsync_ZeroWorkers_ThrowsArgumentOutOfRange()
    {
        var act = () => Cluster.StartAsync(new ClusterOptions { Workers = 0, Backend = new InProcessBackend() });

        await act.Should().ThrowAsync<ArgumentOutOfRangeException>();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5000)]
    [InlineData(999)]
    public async Task StartAsync_IdleTimeoutUnderOneSecond_ThrowsArgumentOutOfRangeSayingWhatIsAllowed(int milliseconds)
    {
        var backend = new LocalProcessBackend();
        var act = () => Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = backend, IdleTimeout = TimeSpan.FromMilliseconds(milliseconds) });

        var thrown = (await act.Should().ThrowAsync<ArgumentOutOfRangeException>()).Which;
        thrown.ActualValue.Should().Be(TimeSpan.FromMilliseconds(milliseconds));
        thrown.Message.Should().StartWith(
            $"ClusterOptions.IdleTimeout is {milliseconds / 1000.0:0.###} s; it must be at least 1 s (default 20 min), or Timeout.InfiniteTimeSpan for workers that never stop without work.");
        backend.ProcessIds.Should().BeEmpty("no worker is started with options that are refused");
    }

    [Fact]
    public async Task StartAsync_NoClientTimeoutZero_ThrowsArgumentOutOfRangeSayingWhatIsAllowed()
    {
        var act = () => Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new LocalProcessBackend(), NoClientTimeout = TimeSpan.Zero });

        (await act.Should().ThrowAsync<ArgumentOutOfRangeException>()).Which.Message.Should().StartWith(
            "ClusterOptions.NoClientTimeout is 0 s; it must be at least 1 s (default 2 min), or Timeout.InfiniteTimeSpan for workers that never stop without a client.");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4097)]
    [InlineData(int.MaxValue)]
    public void SlotsPerWorker_OutsideOneTo4096_ThrowsArgumentOutOfRangeSayingTheRange(int slots)
    {
        var local = () => new LocalProcessBackend { SlotsPerWorker = slots };
        var inProcess = () => new InProcessBackend { SlotsPerWorker = slots };

        local.Should().Throw<ArgumentOutOfRangeException>().Which.Message.Should().StartWith(
            "LocalProcessBackend.SlotsPerWorker must be from 1 to 4096, or null for the processors of this machine shared among the workers.");
        inProcess.Should().Throw<ArgumentOutOfRangeException>().Which.Message.Should().StartWith(
            "InProcessBackend.SlotsPerWorker must be from 1 to 4096, or null for the processors of this machine shared among the workers.");
    }

    [Fact]
    public async Task StartAsync_InfiniteIdleAndNoClientTimeouts_StartsAndRuns()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 1, Backend = new InProcessBackend(), IdleTimeout = Timeout.InfiniteTimeSpan, NoClientTimeout = Timeout.InfiniteTimeSpan,
        });

        (await cluster.SubmitAsync(TestJobs.Square, 3.0)).Should().Be(9.0);
    }

    [Fact]
    public async Task StartAsync_StreamWindowBytesBelowOneMiB_ThrowsArgumentOutOfRangeSayingTheMinimum()
    {
        var act = () => Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend(), StreamWindowBytes = 1000 });

        var thrown = (await act.Should().ThrowAsync<ArgumentOutOfRangeException>()).Which;
        thrown.ParamName.Should().Be("options");
        thrown.ActualValue.Should().Be(1000L);
        thrown.Message.Should().StartWith(
            "ClusterOptions.StreamWindowBytes is 1,000 bytes; a stream needs at least 1,048,576 (1 MiB). Leave it unset for the default of 33,554,432 bytes, or raise it.");
    }

    [LinuxFact]
    public async Task MapAsync_WorkerKilledWhileRunningTasks_RequeuesThemAndEveryResultArrivesExactlyOnce()
    {
        using var cache = new TempDirectory();
        using var gate = new TaskGate();
        var backend = new LocalProcessBackend { CacheDirectory = cache.Path };
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = backend });
        var victim = backend.ProcessIds[0];

        // No task ends before the gate opens, so the victim dies with every task it was given still on it.
        var map = cluster.MapAsync(TestJobs.IdentityWhenReleasedAsync, Enumerable.Range(0, 40).Select(i => (i, gate.Folder)));
        var onVictim = (await gate.WaitUntilAsync(started => started.Any(s => s.ProcessId == victim), "a task running on the victim"))
            .Where(s => s.ProcessId == victim).Select(s => s.Item).ToList();
        Process.GetProcessById(victim).Kill();

        // Tasks hold their executor's connection to the caller: one could still send a result in the moment before it
        // sees its daemon gone, which counts, once. Opening the gate only once the worker is lost makes them all re-run.
        await Eventually.HoldsAsync(() => cluster.Workers.Single(w => w.ProcessId == victim).State == WorkerState.Lost, "the killed worker to be declared lost");
        gate.Release();
        var results = await map.WaitAsync(Safety);

        results.Should().Equal(Enumerable.Range(0, 40));
        cluster.Summary.TasksRequeued.Should().BeGreaterThanOrEqualTo(onVictim.Count, "every task that was running on the killed worker went back to the queue");
        var reruns = gate.Started().Where(s => s.ProcessId != victim).Select(s => s.Item).ToList();
        reruns.Should().Contain(onVictim, "each task the victim was running ran again on another worker");
        cluster.Workers.Single(w => w.ProcessId == victim).State.Should().Be(WorkerState.Lost);
        (await ReadyWorkersAsync(cluster, 2)).Should().Be(2, "a replacement worker takes the lost one's place");
        (await cluster.SubmitAsync(TestJobs.Square, 5.0).WaitAsync(Safety)).Should().Be(25.0);
    }

    [UnixFact]
    public async Task MapAsync_EveryWorkerKilled_FailsWithWorkerLostException()
    {
        using var cache = new TempDirectory();
        var backend = new LocalProcessBackend { CacheDirectory = cache.Path };
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = backend, ReplaceLostWorkers = false });

        var map = cluster.MapAsync(TestJobs.SlowIdentity, Enumerable.Range(0, 500));
        await Task.Delay(300);
        Process.GetProcessById(backend.ProcessIds[0]).Kill();

        var thrown = (await FluentActions.Awaiting(() => map.WaitAsync(Safety)).Should().ThrowAsync<WorkerLostException>()).Which;
        thrown.Message.Should().StartWith("Every worker of the cluster is gone");
        thrown.Message.Should().Contain("exit code 137 (killed by SIGKILL");
        thrown.Method.Should().Be("TestJobs.SlowIdentity");
    }

    [Fact]
    public async Task InProcessBackend_Map_RunsInTheCallerProcess()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend() });

        var pids = await cluster.MapAsync(TestJobs.ProcessId, Enumerable.Range(0, 10)).WaitAsync(Safety);
        var squares = await cluster.MapAsync(TestJobs.Square, [1.0, 2.0]).WaitAsync(Safety);

        pids.Should().OnlyContain(pid => pid == Environment.ProcessId);
        squares.Should().Equal(1.0, 4.0);
        cluster.Workers.Should().HaveCount(2).And.OnlyContain(w => w.ProcessId == Environment.ProcessId);
    }

    [Fact]
    public async Task SubmitAsync_AfterDispose_ThrowsObjectDisposed()
    {
        var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend() });
        await cluster.DisposeAsync();

        var act = () => cluster.SubmitAsync(TestJobs.Square, 1.0);

        await act.Should().ThrowAsync<ObjectDisposedException>();
    }

    [Fact]
    public async Task DisposeAsync_WhileMapRuns_FailsTheMapWithObjectDisposed()
    {
        var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend() });
        var map = cluster.MapAsync(TestJobs.SlowIdentity, Enumerable.Range(0, 1000));
        await Task.Delay(100);

        await cluster.DisposeAsync();

        await FluentActions.Awaiting(() => map.WaitAsync(Safety)).Should().ThrowAsync<ObjectDisposedException>();
    }

    [Fact]
    public async Task StartAsync_BackendGivesWorkersVariables_TasksSeeThemOverForwardedOnes()
    {
        Environment.SetEnvironmentVariable("COILED_REMOTE_TEST_BACKEND_VAR", "from the caller");
        using var cache = new TempDirectory();
        var backend = new VariablesBackend(new Dictionary<string, string> { ["COILED_REMOTE_TEST_BACKEND_VAR"] = "from the backend" }, cache.Path);
        await using var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 1,
            Backend = backend,
            ForwardEnvironmentVariables = ["COILED_REMOTE_TEST_BACKEND_VAR"],
        });

        var value = await cluster.SubmitAsync(TestJobs.ReadVariable, "COILED_REMOTE_TEST_BACKEND_VAR").WaitAsync(Safety);

        value.Should().Be("from the backend");
    }

    /// <summary>Waits (a generous safety net, not a measurement) until the cluster has <paramref name="count"/> ready workers; returns how many it has.</summary>
    private static async Task<int> ReadyWorkersAsync(Cluster cluster, int count)
    {
        var deadline = DateTime.UtcNow + Safety;
        while (cluster.Workers.Count(w => w.State == WorkerState.Ready) < count && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        return cluster.Workers.Count(w => w.State == WorkerState.Ready);
    }

    private sealed record SyncSummary(int BlobsSent, long BytesSent, int ManifestFiles);

    /// <summary>A backend that keeps what it was asked to start and starts nothing.</summary>
    private sealed class RecordingBackend : IClusterBackend
    {
        public WorkerLaunch? Launch { get; private set; }

        public string Name => "recording";

        public int DefaultWorkerCount => 1;

        public decimal? Cost => null;

        public Task<IReadOnlyList<WorkerEndpoint>> StartWorkersAsync(WorkerLaunch launch, CancellationToken cancellationToken)
        {
            Launch = launch;
            throw new ClusterStartException("This backend only records what it is asked to start.");
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    /// <summary>In-process workers whose endpoints carry variables, as a cloud backend's carry credentials.</summary>
    /// <summary>Local worker daemons whose tasks get variables from the backend (as cloud credentials would come).</summary>
    private sealed class VariablesBackend(IReadOnlyDictionary<string, string> variables, string cacheDirectory) : IClusterBackend
    {
        private readonly LocalProcessBackend _inner = new() { CacheDirectory = cacheDirectory };

        public string Name => "local workers with variables";

        public int DefaultWorkerCount => 1;

        public decimal? Cost => null;

        public async Task<IReadOnlyList<WorkerEndpoint>> StartWorkersAsync(WorkerLaunch launch, CancellationToken cancellationToken)
            => [.. (await _inner.StartWorkersAsync(launch, cancellationToken)).Select(e => e with { EnvironmentVariables = variables })];

        public ValueTask DisposeAsync() => _inner.DisposeAsync();
    }
}
