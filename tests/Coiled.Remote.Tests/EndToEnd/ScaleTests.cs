using System.Diagnostics;
using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary><see cref="Cluster.ScaleAsync"/>: workers added through the backend, and workers retired with no task run twice or lost.</summary>
public sealed class ScaleTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task ScaleAsync_UpToFourThenDownToOneUnderARunningMap_EveryItemRunsExactlyOnce()
    {
        var run = Guid.NewGuid().ToString("N");
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend { SlotsPerWorker = 2 } });
        var items = Enumerable.Range(0, 600).Select(i => (run, i)).ToList();

        var map = cluster.MapAsync(TestJobs.CountedSlowIdentity, items);
        await cluster.ScaleAsync(4).WaitAsync(Safety);
        cluster.Workers.Count(w => w.State == WorkerState.Ready).Should().Be(4);
        await cluster.ScaleAsync(1).WaitAsync(Safety);
        var ready = cluster.Workers.Where(w => w.State == WorkerState.Ready).ToList();
        var results = await map.WaitAsync(Safety);

        ready.Should().ContainSingle();
        cluster.Workers.Count(w => w.State == WorkerState.Retired).Should().Be(3);
        results.Should().Equal(Enumerable.Range(0, 600));
        items.Select(item => TestJobs.Executions.GetValueOrDefault(item)).Should().OnlyContain(n => n == 1, "no item runs twice and none is lost");
        cluster.Summary.TasksFailed.Should().Be(0);
    }

    [Fact]
    public async Task ScaleAsync_DownWhileTheRetiringWorkerHoldsTasksItHasNotStarted_ItGivesThemBackUnrun()
    {
        var run = Guid.NewGuid().ToString("N");
        // One slot each: a worker holds tasks queued behind the one it runs.
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend { SlotsPerWorker = 1 } });
        var items = Enumerable.Range(0, 200).Select(i => (run, i)).ToList();
        var map = cluster.MapAsync(TestJobs.CountedSlowIdentity, items);
        using (var safety = new CancellationTokenSource(Safety))
        {
            while (TestJobs.Executions.Count(e => e.Key.Run == run) < 10)
            {
                await Task.Delay(10, safety.Token);
            }
        }

        await cluster.ScaleAsync(1).WaitAsync(Safety);
        var results = await map.WaitAsync(Safety);

        results.Should().Equal(Enumerable.Range(0, 200));
        items.Select(item => TestJobs.Executions.GetValueOrDefault(item)).Should().OnlyContain(n => n == 1);
        cluster.Summary.TasksRequeued.Should().BeGreaterThan(0, "the retiring worker gave back the tasks it held but had not started");
        cluster.Workers.Select(w => w.State).Should().BeEquivalentTo([WorkerState.Ready, WorkerState.Retired]);
    }

    [Fact]
    public async Task ScaleAsync_LocalProcesses_AddsWorkersThatRunTasksAndRetiredOnesExit()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1 });

        await cluster.ScaleAsync(3).WaitAsync(Safety);
        var processes = await cluster.MapAsync(TestJobs.WorkerProcessId, Enumerable.Range(0, 300)).WaitAsync(Safety);
        await cluster.ScaleAsync(1).WaitAsync(Safety);

        cluster.Workers.Should().HaveCount(3);
        processes.Distinct().Should().HaveCount(3, "the added workers ran tasks too");
        var retired = cluster.Workers.Where(w => w.State == WorkerState.Retired).ToList();
        retired.Should().HaveCount(2);
        foreach (var worker in retired)
        {
            await WaitForExitAsync(worker.ProcessId);
        }

        (await cluster.MapAsync(TestJobs.Square, [3.0]).WaitAsync(Safety)).Should().Equal(9.0);
    }

    [Fact]
    public async Task ScaleAsync_DownMidCallOnLocalProcesses_TheRetiringWorkerGivesBackWhatItHasNotStartedAndNothingRunsTwice()
    {
        using var gate = new TaskGate();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new LocalProcessBackend { SlotsPerWorker = 1 } });
        var map = cluster.MapAsync(TestJobs.IdentityWhenReleasedAsync, Enumerable.Range(0, 10).Select(i => (i, gate.Folder)));

        // Each worker runs one task (held at the gate) and holds one more it has not started.
        await gate.WaitUntilAsync(started => started.Count == 2, "a task running on each worker");
        await Eventually.HoldsAsync(() => cluster.Scheduler.Counts().Running == 4, "each worker to hold two tasks", Safety);
        var scale = cluster.ScaleAsync(1);
        await Eventually.HoldsAsync(() => cluster.Summary.TasksRequeued == 1, "the retiring worker to give back its unstarted task", Safety);
        gate.Release();
        await scale.WaitAsync(Safety);
        var results = await map.WaitAsync(Safety);

        results.Should().Equal(Enumerable.Range(0, 10));
        gate.Started().Select(s => s.Item).Should().Equal(Enumerable.Range(0, 10), "each item ran once: the task given back ran only on the other worker");
        cluster.Summary.TasksRequeued.Should().Be(1);
        cluster.Summary.TasksFailed.Should().Be(0);
        cluster.Workers.Select(w => w.State).Should().BeEquivalentTo([WorkerState.Ready, WorkerState.Retired]);
    }

    [Fact]
    public async Task ScaleAsync_TheOtherWorkerDiesWhileOneRetires_TheRetiringOneStaysAndFinishesTheCall()
    {
        using var gate = new TaskGate();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, ReplaceLostWorkers = false, Backend = new LocalProcessBackend { SlotsPerWorker = 1 } });
        var map = cluster.MapAsync(TestJobs.IdentityWhenReleasedAsync, Enumerable.Range(0, 10).Select(i => (i, gate.Folder)));
        await gate.WaitUntilAsync(started => started.Count == 2, "a task running on each worker");

        var scale = cluster.ScaleAsync(1);
        await Eventually.HoldsAsync(() => cluster.Workers.Any(w => w.State == WorkerState.Retiring), "a worker to retire", Safety);
        var other = cluster.Workers.Single(w => w.State == WorkerState.Ready);
        using (var process = Process.GetProcessById(other.ProcessId))
        {
            process.Kill(entireProcessTree: true);
        }

        await scale.WaitAsync(Safety);
        gate.Release();
        var results = await map.WaitAsync(Safety);

        results.Should().Equal(Enumerable.Range(0, 10), "the worker that was retiring ran the rest of the call");
        cluster.Workers.Select(w => w.State).Should().BeEquivalentTo([WorkerState.Lost, WorkerState.Ready]);
    }

    [Fact]
    public async Task ScaleAsync_CancelledWhileAWorkerRetires_TheWorkerStillRetiresAndItsProcessExits()
    {
        using var gate = new TaskGate();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new LocalProcessBackend { SlotsPerWorker = 1 } });
        var map = cluster.MapAsync(TestJobs.IdentityWhenReleasedAsync, Enumerable.Range(0, 6).Select(i => (i, gate.Folder)));
        await gate.WaitUntilAsync(started => started.Count == 2, "a task running on each worker");
        using var cancel = new CancellationTokenSource();

        var scale = cluster.ScaleAsync(1, cancel.Token);
        await Eventually.HoldsAsync(() => cluster.Workers.Any(w => w.State == WorkerState.Retiring), "a worker to retire", Safety);
        await cancel.CancelAsync();
        await scale.Invoking(s => s.WaitAsync(Safety)).Should().ThrowAsync<OperationCanceledException>();
        gate.Release();
        await map.WaitAsync(Safety);

        await Eventually.HoldsAsync(() => cluster.Workers.Any(w => w.State == WorkerState.Retired), "the worker to retire", Safety);
        await WaitForExitAsync(cluster.Workers.Single(w => w.State == WorkerState.Retired).ProcessId);
    }

    [Fact]
    public async Task DisposeAsync_WhileAWorkerRetires_EndsWithoutWaitingForItsTasks()
    {
        using var gate = new TaskGate();
        var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend { SlotsPerWorker = 1 } });
        var map = cluster.MapAsync(TestJobs.IdentityWhenReleasedAsync, Enumerable.Range(0, 6).Select(i => (i, gate.Folder)));
        await gate.WaitUntilAsync(started => started.Count == 2, "a task running on each worker");
        var scale = cluster.ScaleAsync(1);
        await Eventually.HoldsAsync(() => cluster.Workers.Any(w => w.State == WorkerState.Retiring), "a worker to retire", Safety);

        await cluster.DisposeAsync().AsTask().WaitAsync(Safety);

        await map.Invoking(m => m.WaitAsync(Safety)).Should().ThrowAsync<ObjectDisposedException>();
        (await scale.Invoking(s => s.WaitAsync(Safety)).Should().ThrowAsync<ObjectDisposedException>()).Which.Message.Should().StartWith("The cluster was disposed while it scaled.");
        gate.Release();
    }

    [Fact]
    public async Task ScaleAsync_SameCount_ChangesNothing()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend() });

        await cluster.ScaleAsync(2).WaitAsync(Safety);

        cluster.Workers.Should().HaveCount(2).And.OnlyContain(w => w.State == WorkerState.Ready);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    public async Task ScaleAsync_FewerThanOneWorker_IsRefused(int workers)
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend() });

        var scale = () => cluster.ScaleAsync(workers);

        (await scale.Should().ThrowAsync<ArgumentOutOfRangeException>()).Which.ParamName.Should().Be("workers");
    }

    [Fact]
    public async Task ScaleAsync_ClusterOfWorkersStartedByHand_IsNotSupported()
    {
        await using var backend = new InProcessBackend();
        var token = "hand-started-workers-token-0123456789";
        var endpoints = await backend.StartWorkersAsync(
            new WorkerLaunch(1, token, TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(5), Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance), CancellationToken.None);
        await using var cluster = await Cluster.ConnectAsync(endpoints, token);

        var scale = () => cluster.ScaleAsync(2);

        (await scale.Should().ThrowAsync<NotSupportedException>()).Which.Message.Should().StartWith("This cluster was made with Cluster.ConnectAsync from workers started by hand");
    }

    [Fact]
    public async Task ScaleAsync_AfterDispose_Throws()
    {
        var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend() });
        await cluster.DisposeAsync();

        var scale = () => cluster.ScaleAsync(2);

        await scale.Should().ThrowAsync<ObjectDisposedException>();
    }

    [Fact]
    public async Task Adapt_SixteenTasksOnOneSlot_GrowsAboveOneThenRetiresIdleWorkersToOneAfterTheirIdleTime()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        using var logs = new CapturingLoggerProvider();
        using var loggerFactory = logs.CreateFactory();
        using var gate = new TaskGate();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 1,
            Backend = new InProcessBackend { SlotsPerWorker = 1 },
            TimeProvider = time,
            LoggerFactory = loggerFactory,
        });
        cluster.Adapt(1, 4, scaleDownAfter: TimeSpan.FromSeconds(30));

        var map = cluster.MapAsync(TestJobs.IdentityWhenReleasedAsync, Enumerable.Range(0, 16).Select(i => (i, gate.Folder)));
        await Eventually.HoldsAsync(() => TotalQueued(cluster) > 0, "tasks to queue", Safety);
        await TickUntilAsync(time, () => Ready(cluster) == 4);
        gate.Release();
        var results = await map.WaitAsync(Safety);

        results.Should().Equal(Enumerable.Range(0, 16));
        logs.Entries.Should().Contain(e => e.Message.StartsWith("Scaling from 1 to 4 worker(s): ", StringComparison.Ordinal) && e.Message.EndsWith("(adapting between 1 and 4)", StringComparison.Ordinal));

        // Idle for less than 30 s of the cluster's clock: nobody retires.
        for (var second = 0; second < 25; second++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
        }

        await Task.Delay(200);
        Ready(cluster).Should().Be(4);

        await TickUntilAsync(time, () => Ready(cluster) == 1);
        cluster.Workers.Count(w => w.State == WorkerState.Retired).Should().Be(3);
        // Workers that went idle at different moments retire in one step or several, each for its idle time.
        var down = logs.Entries.Where(e => e.Message.StartsWith("Scaling from ", StringComparison.Ordinal) && e.Message.Contains(" idle for 30 s (adapting between 1 and 4)", StringComparison.Ordinal)).ToList();
        down.Should().NotBeEmpty();
        down.Sum(e => (int)e.Values["From"]! - (int)e.Values["To"]!).Should().Be(3);
        (await cluster.MapAsync(TestJobs.Square, [5.0]).WaitAsync(Safety)).Should().Equal(25.0);
    }

    [Fact]
    public async Task Adapt_BoundsOutOfRangeOrConnectedCluster_AreRefused()
    {
        await using (var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend() }))
        {
            cluster.Invoking(c => c.Adapt(0, 2)).Should().Throw<ArgumentOutOfRangeException>();
            cluster.Invoking(c => c.Adapt(3, 2)).Should().Throw<ArgumentOutOfRangeException>();
            cluster.Invoking(c => c.Adapt(1, 2, TimeSpan.Zero)).Should().Throw<ArgumentOutOfRangeException>();
        }

        await using var backend = new InProcessBackend();
        var token = "hand-started-workers-token-0123456789";
        var endpoints = await backend.StartWorkersAsync(
            new WorkerLaunch(1, token, TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(5), Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance), CancellationToken.None);
        await using var connected = await Cluster.ConnectAsync(endpoints, token);
        connected.Invoking(c => c.Adapt(1, 2)).Should().Throw<NotSupportedException>();
    }

    private static int Ready(Cluster cluster) => cluster.Workers.Count(w => w.State == WorkerState.Ready);

    private static long TotalQueued(Cluster cluster) => cluster.Scheduler.Counts().Queued;

    /// <summary>Advances the cluster's clock a second at a time, letting the adapting loop act, until <paramref name="done"/>.</summary>
    private static async Task TickUntilAsync(Microsoft.Extensions.Time.Testing.FakeTimeProvider time, Func<bool> done)
    {
        using var safety = new CancellationTokenSource(Safety);
        while (!done())
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(50, safety.Token);
        }
    }

    private static async Task WaitForExitAsync(int processId)
    {
        using var safety = new CancellationTokenSource(Safety);
        while (true)
        {
            try
            {
                using var process = Process.GetProcessById(processId);
                if (process.HasExited)
                {
                    return;
                }
            }
            catch (ArgumentException)
            {
                return;
            }

            await Task.Delay(50, safety.Token);
        }
    }
}
