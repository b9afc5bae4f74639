using Coiled.Remote.Scheduling;
using Coiled.Remote.Transport.Protocol;

namespace Coiled.Remote.Tests.Scheduling;

/// <summary>The scheduler on its own, driven by fake workers and a fake clock: which item goes where, and when.</summary>
public sealed class SchedulerTests
{
    [Fact]
    public async Task OnResults_EveryItemAnswered_CompletesTheMapInInputOrder()
    {
        var driver = new SchedulerDriver();
        var worker = driver.AddWorker("w1", slots: 2);
        var job = driver.Submit(3);

        driver.Take(worker).Should().Equal(0, 1, 2);
        driver.Succeed(worker, job, 2, 0, 1);

        (await job.Completion).Should().Equal(0, 1, 4);
        driver.Scheduler.Metrics.TasksDone.Should().Be(3);
        driver.Scheduler.Counts().Should().Be((0L, 0L));
    }

    [Fact]
    public void TakeRequest_OneWorker_TakesNoMoreThanItsWindowOfTwicePerSlot()
    {
        var driver = new SchedulerDriver();
        var worker = driver.AddWorker("w1", slots: 2);
        driver.Submit(10);

        driver.Take(worker).Should().Equal(0, 1, 2, 3);
        driver.Take(worker).Should().BeNull("the window of 2 slots × 2 is full");
        driver.Scheduler.Counts().Should().Be((6L, 4L));
    }

    [Fact]
    public void TakeRequest_TwoWorkers_EachTakesItsShareOfWhatIsQueued()
    {
        var driver = new SchedulerDriver();
        var first = driver.AddWorker("w1", slots: 8);
        var second = driver.AddWorker("w2", slots: 8);
        driver.Submit(10);

        // Half of 10, then half of the 5 left (rounded up), then half of 2, then the last one.
        driver.Take(first).Should().Equal(0, 1, 2, 3, 4);
        driver.Take(second).Should().Equal(5, 6, 7);
        driver.Take(first).Should().Equal(8);
        driver.Take(second).Should().Equal(9);
        driver.Take(first).Should().BeNull();
    }

    [Fact]
    public void TakeRequest_TwoJobs_TheFirstSubmittedGoesOutFirstAndABatchHoldsOneJob()
    {
        var driver = new SchedulerDriver();
        var worker = driver.AddWorker("w1", slots: 4);
        var first = driver.Submit(3);
        var second = driver.Submit(3);

        var batches = new[] { driver.Scheduler.TakeRequest(worker), driver.Scheduler.TakeRequest(worker) };

        batches.Select(b => b!.Value.Request.Tasks.TaskIds.Select(id => id >> 32).Distinct().Single())
            .Should().Equal(first.Id, second.Id);
        batches.Select(b => b!.Value.Request.Tasks.TaskIds.Count).Should().Equal(3, 3);
    }

    [Fact]
    public void OnResults_MethodThrowsWithRetries_ResendsAfterABackoffThatDoublesUpToTenSeconds()
    {
        var driver = new SchedulerDriver();
        var worker = driver.AddWorker("w1", slots: 1);
        var job = driver.Submit(1, retries: 10);
        driver.Take(worker).Should().Equal(0);

        var waits = new List<TimeSpan>();
        for (var attempt = 1; attempt <= 9; attempt++)
        {
            driver.Fail(worker, job, FailureKind.Exception, 0);
            var waited = TimeSpan.Zero;
            while (driver.Take(worker) is null)
            {
                driver.Time.Advance(TimeSpan.FromMilliseconds(1));
                waited += TimeSpan.FromMilliseconds(1);
            }

            waits.Add(waited);
        }

        waits.Select(w => w.TotalMilliseconds).Should().Equal(100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000);
        driver.Scheduler.Metrics.TasksRetried.Should().Be(9);
        job.Completion.IsCompleted.Should().BeFalse();
    }

    [Fact]
    public async Task OnResults_MethodThrowsMoreOftenThanItsRetries_FailsTheCallWithTheRemoteError()
    {
        var driver = new SchedulerDriver();
        var worker = driver.AddWorker("w1", slots: 1);
        var job = driver.Submit(1, retries: 1);
        driver.Take(worker).Should().Equal(0);
        driver.Fail(worker, job, FailureKind.Exception, 0);
        driver.Time.Advance(RetryTimer.FirstDelay);
        driver.Take(worker).Should().Equal(0);

        driver.Fail(worker, job, FailureKind.Exception, 0);

        var error = (await job.Completion.Invoking(c => c).Should().ThrowAsync<RemoteException>()).Which;
        error.RemoteMessage.Should().Be("item 0 threw");
        error.WorkerId.Should().Be("w1");
        driver.Scheduler.Metrics.TasksRetried.Should().Be(1);
        driver.Scheduler.Metrics.TasksFailed.Should().Be(1);
    }

    [Fact]
    public void OnResults_CallEndsDuringBackoff_TheRetryIsNeverSent()
    {
        var driver = new SchedulerDriver();
        var worker = driver.AddWorker("w1", slots: 1);
        var job = driver.Submit(1, retries: 3);
        driver.Take(worker).Should().Equal(0);
        driver.Fail(worker, job, FailureKind.Exception, 0);

        job.Fail(new OperationCanceledException());
        driver.Time.Advance(RetryTimer.MaxDelay);

        driver.Scheduler.TakeRequest(worker).Should().BeNull();
        driver.Scheduler.Counts().Should().Be((0L, 0L));
    }

    [Fact]
    public async Task OnWorkerLostAsync_WorkerHadTasks_TheyGoOutFirstEachAloneOnAnotherWorker()
    {
        var driver = new SchedulerDriver();
        var lost = driver.AddWorker("w1", slots: 2);
        var job = driver.Submit(10);
        driver.Take(lost).Should().Equal(0, 1, 2, 3);
        var other = driver.AddWorker("w2", slots: 2);

        await driver.Scheduler.OnWorkerLostAsync(lost, new IOException("reset"));

        var sent = new List<int[]>();
        while (driver.Take(other) is { } batch)
        {
            sent.Add(batch);
            driver.Succeed(other, job, batch);
        }

        // Then the rest at once: quick results (no execution time reported) widened the worker's window past them.
        int[][] expected = [[0], [1], [2], [3], [4, 5, 6, 7, 8, 9]];
        sent.Should().BeEquivalentTo(expected, o => o.WithStrictOrdering());
        driver.Scheduler.Metrics.TasksRequeued.Should().Be(4);
        driver.Lost.Should().Equal("w1 was killed");
        lost.State.Should().Be(WorkerState.Lost);
        (await job.Completion).Should().Equal(Enumerable.Range(0, 10).Select(i => i * i));
    }

    [Fact]
    public async Task OnWorkerLostAsync_SuspectRunningAlone_TheWorkerGetsNothingElseUntilItEnds()
    {
        var driver = new SchedulerDriver();
        var lost = driver.AddWorker("w1", slots: 1);
        var job = driver.Submit(3);
        driver.Take(lost).Should().Equal(0, 1);
        var other = driver.AddWorker("w2", slots: 4);
        await driver.Scheduler.OnWorkerLostAsync(lost, null);

        driver.Take(other).Should().Equal(0);
        driver.Take(other).Should().BeNull("item 0 runs alone, though the worker has credit and items are queued");
        driver.Succeed(other, job, 0);
        driver.Take(other).Should().Equal(1);
    }

    [Fact]
    public async Task OnWorkerLostAsync_TaskWasInMaxWorkerDeaths_FailsAloneWithEveryDeath()
    {
        var driver = new SchedulerDriver(maxWorkerDeaths: 3);
        var poison = driver.Submit(1);
        var innocent = driver.Submit(1);
        var w1 = driver.AddWorker("w1", slots: 1);
        driver.Take(w1).Should().Equal(0);
        var survivor = driver.AddWorker("survivor", slots: 1);
        driver.Take(survivor).Should().Equal([0], "the innocent job's item goes to the other worker");

        await driver.Scheduler.OnWorkerLostAsync(w1, null);
        var w2 = driver.AddWorker("w2", slots: 1);
        driver.Take(w2).Should().Equal(0);
        await driver.Scheduler.OnWorkerLostAsync(w2, null);
        var w3 = driver.AddWorker("w3", slots: 1);
        driver.Take(w3).Should().Equal(0);
        poison.Completion.IsCompleted.Should().BeFalse("two deaths are fewer than MaxWorkerDeaths");
        await driver.Scheduler.OnWorkerLostAsync(w3, null);

        var error = (await poison.Completion.Invoking(c => c).Should().ThrowAsync<WorkerLostException>()).Which;
        error.WorkerDeaths.Should().Equal("w1 was killed", "w2 was killed while running alone", "w3 was killed while running alone");
        error.ItemIndex.Should().Be(0);
        error.Message.Should().Contain("(MaxWorkerDeaths = 3)").And.Contain("fix the method or the item");
        driver.Scheduler.Metrics.TasksFailed.Should().Be(1);
        driver.Scheduler.Metrics.TasksRequeued.Should().Be(2);

        driver.Succeed(survivor, innocent, 0);
        (await innocent.Completion).Should().Equal(0);
    }

    [Fact]
    public async Task OnWorkerLostAsync_LastWorkerOfAClusterThatDoesNotReplace_FailsEveryCall()
    {
        var driver = new SchedulerDriver(replacesWorkers: false);
        var worker = driver.AddWorker("w1", slots: 1);
        var job = driver.Submit(2);

        await driver.Scheduler.OnWorkerLostAsync(worker, null);

        var error = (await job.Completion.Invoking(c => c).Should().ThrowAsync<WorkerLostException>()).Which;
        error.WorkerDeaths.Should().Equal("w1: was killed");
        driver.Scheduler.Invoking(s => s.Submit(new MapJob<int>(new TestStub(), 1, default), []))
            .Should().Throw<WorkerLostException>().WithMessage("The cluster has no workers left to run TestStub.Square*");
    }

    [Fact]
    public async Task OnExecutorLost_TasksInFlight_CountTheDeathAndWaitUntilTheExecutorIsReplaced()
    {
        var driver = new SchedulerDriver();
        var worker = driver.AddWorker("w1", slots: 1);
        var job = driver.Submit(2);
        driver.Take(worker).Should().Equal(0, 1);

        driver.Scheduler.OnExecutorLost(worker, "its executor ended", out var tasks).Should().BeTrue();

        tasks.Should().Be(2);
        worker.State.Should().Be(WorkerState.Starting);
        driver.Take(worker).Should().BeNull("the worker has no executor to run tasks");
        driver.Scheduler.OnExecutorReplaced(worker);
        driver.Take(worker).Should().Equal(0);
        driver.Succeed(worker, job, 0);
        driver.Take(worker).Should().Equal(1);
        driver.Succeed(worker, job, 1);
        (await job.Completion).Should().Equal(0, 1);
    }

    [Fact]
    public async Task Fail_CallCancelledWithTasksInFlight_CancelsThemOnTheWorkerAndDropsTheirResults()
    {
        using var cancel = new CancellationTokenSource();
        var driver = new SchedulerDriver();
        var worker = driver.AddWorker("w1", slots: 2);
        var idle = driver.AddWorker("w2", slots: 2);
        var job = driver.Submit(10, cancellationToken: cancel.Token);
        driver.Take(worker).Should().Equal(0, 1, 2, 3);
        var wakes = worker.Wakes;

        cancel.Cancel();
        job.Fail(new OperationCanceledException(cancel.Token));

        worker.Wakes.Should().BeGreaterThan(wakes, "the worker's send loop has cancels to send");
        var request = driver.Scheduler.TakeRequest(worker)!.Value.Request;
        request.Cancel.TaskIds.Select(TaskIds.IndexOf).Should().Equal(0, 1, 2, 3);
        driver.Scheduler.TakeRequest(worker).Should().BeNull();
        driver.Scheduler.TakeRequest(idle).Should().BeNull("the queued items went with the call");
        driver.Scheduler.Counts().Should().Be((0L, 4L));

        driver.Fail(worker, job, FailureKind.Canceled, 0, 1);
        driver.Succeed(worker, job, 2, 3);

        await job.Completion.Invoking(c => c).Should().ThrowAsync<OperationCanceledException>();
        driver.Scheduler.Counts().Should().Be((0L, 0L));
        driver.Scheduler.Metrics.TasksDone.Should().Be(0);
        driver.Scheduler.Metrics.TasksFailed.Should().Be(0);
    }

    [Fact]
    public void Close_CallsRunning_FailsThemAndRefusesNewOnes()
    {
        var driver = new SchedulerDriver();
        var worker = driver.AddWorker("w1", slots: 1);
        var job = driver.Submit(1);

        driver.Scheduler.Close(new ObjectDisposedException("cluster"));

        job.Completion.IsFaulted.Should().BeTrue();
        worker.State.Should().Be(WorkerState.Stopped);
        driver.Scheduler.Invoking(s => s.Submit(new MapJob<int>(new TestStub(), 1, default), []))
            .Should().Throw<ObjectDisposedException>();
    }
}
