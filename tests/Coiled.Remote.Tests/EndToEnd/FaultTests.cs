using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>Poison tasks, timeouts, resource faults and per-item outcomes, with real worker processes.</summary>
public sealed class FaultTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(3);

    [UnixFact]
    public async Task MapOutcomesAsync_PoisonItemKillsThreeExecutors_FailsAloneWithWorkerLostException()
    {
        using var cache = new TempDirectory();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new LocalProcessBackend { CacheDirectory = cache.Path } });

        var outcomes = await cluster.MapOutcomesAsync(TestJobs.KillWorkerOn, Enumerable.Range(0, 20).Select(i => (i, 5))).WaitAsync(Safety);

        outcomes.Should().HaveCount(20);
        for (var i = 0; i < 20; i++)
        {
            if (i == 5)
            {
                continue;
            }

            outcomes[i].Succeeded.Should().BeTrue($"item {i} is innocent");
            outcomes[i].Value.Should().Be(i * 10);
        }

        var lost = outcomes[5].Error.Should().BeOfType<WorkerLostException>().Subject;
        lost.Method.Should().Be("TestJobs.KillWorkerOn");
        lost.ItemIndex.Should().Be(5);
        lost.WorkerDeaths.Should().HaveCount(3).And.OnlyContain(d => d.Contains("exit code 137 (killed by SIGKILL"));
        lost.Message.Should().StartWith("TestJobs.KillWorkerOn item 5 was running in 3 worker processes that died (MaxWorkerDeaths = 3)");
        (await cluster.MapAsync(TestJobs.Square, [1.0, 2.0]).WaitAsync(Safety)).Should().Equal(1.0, 4.0);
    }

    [LinuxFact]
    public async Task MapAsync_WorkerKilledWhileLargeArgumentsAreOnTheirWay_EveryItemArrivesWholeOnce()
    {
        // Arguments travel on the bulk-data connection from pooled buffers; a worker that dies mid-send or with a
        // full queue must leave every item to run elsewhere with exactly its own bytes.
        using var cache = new TempDirectory();
        using var gate = new TaskGate();
        var backend = new LocalProcessBackend { CacheDirectory = cache.Path };
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = backend });
        var victim = backend.ProcessIds[0];
        var random = new Random(31);
        var payloads = Enumerable.Range(0, 30).Select(i =>
        {
            var bytes = new byte[(3 * 1024 * 1024 / 2) + i];
            random.NextBytes(bytes);
            return (bytes, i, gate.Folder);
        }).ToList();

        // No task ends before the gate opens: the victim dies running one, with more arguments queued or on their way.
        var map = cluster.MapAsync(TestJobs.Sha256WhenReleasedAsync, payloads);
        var onVictim = (await gate.WaitUntilAsync(started => started.Any(s => s.ProcessId == victim), "a task running on the victim"))
            .Count(s => s.ProcessId == victim);
        using (var process = System.Diagnostics.Process.GetProcessById(victim))
        {
            process.Kill();
        }

        // Its executor may outlive it for a moment on a busy machine, and would then deliver what runs there over its
        // direct route: the tasks are released once the cluster has declared the worker lost and requeued them.
        await Eventually.HoldsAsync(() => cluster.Workers.Single(w => w.ProcessId == victim).State == WorkerState.Lost, "the killed worker to be declared lost");
        gate.Release();
        var hashes = await map.WaitAsync(Safety);

        hashes.Should().Equal(payloads.Select(p => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(p.bytes))));
        cluster.Summary.TasksRun.Should().Be(30);
        cluster.Summary.TasksRequeued.Should().BeGreaterThanOrEqualTo(onVictim, "the worker died with tasks of the map on it");
    }

    [Fact]
    public async Task SubmitAsync_MethodCallsEnvironmentExit_ReportedAsItsExecutorExitingByItselfAndTheSameWorkerServesOn()
    {
        using var cache = new TempDirectory();
        var backend = new LocalProcessBackend { CacheDirectory = cache.Path };
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, MaxWorkerDeaths = 1, Backend = backend });
        var worker = cluster.Workers.Single();

        var act = () => cluster.SubmitAsync(TestJobs.ExitProcess, 3).WaitAsync(Safety);

        var lost = (await act.Should().ThrowAsync<WorkerLostException>()).Which;
        lost.WorkerDeaths.Should().ContainSingle().Which.Should().StartWith($"{worker.Id} its executor (process ")
            .And.Contain("ended: exit code 3 (the executor process exited by itself: Environment.Exit");
        (await cluster.SubmitAsync(TestJobs.Square, 3.0).WaitAsync(Safety)).Should().Be(9.0, "the same worker serves the next call, in a new executor");
        cluster.Workers.Should().ContainSingle().Which.Should().Be(worker with { State = WorkerState.Ready });
        backend.ProcessIds.Should().Equal(worker.ProcessId);
    }

    [Fact]
    public async Task SubmitAsync_MethodIgnoresItsTimeout_FailsWithTimeoutAndOnlyItsExecutorIsRecycled()
    {
        using var cache = new TempDirectory();
        var backend = new LocalProcessBackend { CacheDirectory = cache.Path };
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = backend });
        var worker = cluster.Workers.Single();
        var executor = await cluster.SubmitAsync(TestJobs.ProcessId, 0).WaitAsync(Safety);

        var act = () => cluster.SubmitAsync(TestJobs.IgnoresItsTimeout, 1).WaitAsync(Safety);

        var thrown = (await act.Should().ThrowAsync<RemoteException>()).Which;
        thrown.RemoteType.Should().Be("System.TimeoutException");
        thrown.RemoteMessage.Should().StartWith(
            "TestJobs.IgnoresItsTimeout did not return within its timeout of 1 s nor 3 s after its CancellationToken was cancelled; the executor process of its environment was recycled to free its slot (the worker stays)");
        await ProcessAssert.AllExitAsync([executor], TimeSpan.FromSeconds(30));
        (await cluster.SubmitAsync(TestJobs.Square, 4.0).WaitAsync(Safety)).Should().Be(16.0);
        (await cluster.SubmitAsync(TestJobs.ProcessId, 1).WaitAsync(Safety)).Should().NotBe(executor);
        ProcessAssert.IsRunning(worker.ProcessId).Should().BeTrue("a task that overran its timeout recycles its executor, never the worker daemon");
        cluster.Workers.Should().ContainSingle().Which.Should().Be(worker with { State = WorkerState.Ready });
    }

    [Fact]
    public async Task SubmitAsync_MethodObservesItsTimeout_FailsWithTimeoutAndWorkerStays()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend() });

        var act = () => cluster.SubmitAsync(TestJobs.ObservesItsTimeout, 1).WaitAsync(Safety);

        var thrown = (await act.Should().ThrowAsync<RemoteException>()).Which;
        thrown.RemoteType.Should().Be("System.TimeoutException");
        thrown.RemoteMessage.Should().Be("TestJobs.ObservesItsTimeout did not finish within its timeout of 1 s.");
        cluster.Workers.Should().ContainSingle().Which.State.Should().Be(WorkerState.Ready);
    }

    [Fact]
    public async Task SubmitAsync_ResultLargerThanTheLimit_FailsTheTaskAndTheWorkerServesOn()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend { MaxResultBytes = 1000 } });

        var act = () => cluster.SubmitAsync(TestJobs.Allocate, 5000).WaitAsync(Safety);

        var thrown = (await act.Should().ThrowAsync<RemoteException>()).Which;
        thrown.RemoteType.Should().Be("Coiled.Remote.Stubs.RemoteResultException");
        thrown.RemoteMessage.Should().Be(
            "TestJobs.Allocate returned a result of more than 1,000 bytes; results are limited to 1,000 bytes. " +
            "Return less data per item, or write it to storage the caller can read and return its location.");
        (await cluster.SubmitAsync(TestJobs.Allocate, 10).WaitAsync(Safety)).Should().HaveCount(10);
    }

    [Fact]
    public async Task SubmitAsync_ResultSerializingFarPastTheLimit_StopsAtTheLimitWithTheSameFailure()
    {
        // 250,000 times the same array: 1 MB in memory, about 100 MB serialized, which the worker never writes in full.
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend { MaxResultBytes = 65_536 } });

        var act = () => cluster.SubmitAsync(TestJobs.SameArrayRepeated, 250_000).WaitAsync(Safety);

        var thrown = (await act.Should().ThrowAsync<RemoteException>()).Which;
        thrown.RemoteMessage.Should().Be(
            "TestJobs.SameArrayRepeated returned a result of more than 65,536 bytes; results are limited to 65,536 bytes. " +
            "Return less data per item, or write it to storage the caller can read and return its location.");
        (await cluster.SubmitAsync(TestJobs.SameArrayRepeated, 2).WaitAsync(Safety)).Should().HaveCount(2);
    }

    [LinuxFact]
    public async Task MapAsync_CancelledMidMap_DropsQueuedItemsAndTheClusterServesTheNextCall()
    {
        using var gate = new TaskGate();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend { SlotsPerWorker = 1 } });
        using var cancel = new CancellationTokenSource();

        // No task ends before the gate opens, which it never does: what was sent to the workers stays there until cancelled.
        var map = cluster.MapAsync(TestJobs.IdentityWhenReleasedAsync, Enumerable.Range(0, 10_000).Select(i => (i, gate.Folder)), cancel.Token);
        await gate.WaitUntilAsync(started => started.Count == 2, "both workers' single slot running a task");
        var (queued, sent) = cluster.Scheduler.Counts();
        cancel.Cancel();

        await FluentActions.Awaiting(() => map.WaitAsync(Safety)).Should().ThrowAsync<OperationCanceledException>();
        (await cluster.MapAsync(TestJobs.Identity, Enumerable.Range(0, 10)).WaitAsync(Safety)).Should().Equal(Enumerable.Range(0, 10));
        (queued + sent).Should().Be(10_000);
        sent.Should().BeLessThan(10_000);
        gate.Started().Should().HaveCountLessThanOrEqualTo((int)sent, "no item that was still queued when the call was cancelled ever ran");
        cluster.Summary.TasksRun.Should().Be(10, "no item of the cancelled call returned a result to it");
    }
}
