using Coiled.Remote.Scheduling;
using Coiled.Remote.Transport.Protocol;

namespace Coiled.Remote.Tests.Scheduling;

/// <summary>
/// A worker whose machine is reclaimed (a spot interruption notice): its tasks go back to the queue at once, as they
/// were, and no worker death counts against them.
/// </summary>
public sealed class SchedulerInterruptionTests
{
    private static readonly MachineNotice Notice = new() { Action = "terminate", TimeUnixMilliseconds = DateTimeOffset.Parse("2026-12-01T12:00:00Z").ToUnixTimeMilliseconds() };

    [Fact]
    public async Task OnWorkerInterruptedAsync_WorkerHadTasks_TheyGoOutAgainTogetherWithNoDeathCounted()
    {
        var driver = new SchedulerDriver(maxWorkerDeaths: 1);
        var interrupted = driver.AddWorker("w1", slots: 2);
        var job = driver.Submit(10);
        driver.Take(interrupted).Should().Equal(0, 1, 2, 3);
        var other = driver.AddWorker("w2", slots: 2);

        await driver.Scheduler.OnWorkerInterruptedAsync(interrupted, Notice);

        // Not one at a time as suspects: nothing suggests they killed anything.
        driver.Take(other).Should().Equal(0, 1, 2, 3);
        driver.Succeed(other, job, 0, 1, 2, 3);
        while (driver.Take(other) is { } batch)
        {
            driver.Succeed(other, job, batch);
        }

        (await job.Completion).Should().Equal(Enumerable.Range(0, 10).Select(i => i * i));
        interrupted.State.Should().Be(WorkerState.Interrupted);
        driver.Scheduler.Metrics.TasksRequeued.Should().Be(4);
        driver.Scheduler.Metrics.TasksFailed.Should().Be(0, "MaxWorkerDeaths is 1, and no death was counted");
        driver.Lost.Should().Equal("w1 its cloud reclaims its machine, terminate at 2026-12-01T12:00:00Z");
    }

    [Fact]
    public async Task OnWorkerLostAsync_StreamBreaksAfterTheInterruption_CountsNoDeathAndAsksNoSecondReplacement()
    {
        var driver = new SchedulerDriver(maxWorkerDeaths: 1);
        var interrupted = driver.AddWorker("w1", slots: 1);
        var job = driver.Submit(2);
        driver.Take(interrupted).Should().Equal(0, 1);

        await driver.Scheduler.OnWorkerInterruptedAsync(interrupted, Notice);
        await driver.Scheduler.OnWorkerLostAsync(interrupted, new IOException("reset"));
        await driver.Scheduler.OnWorkerInterruptedAsync(interrupted, Notice);

        var other = driver.AddWorker("w2", slots: 1);
        driver.Take(other).Should().Equal(0, 1);
        driver.Succeed(other, job, 0, 1);
        (await job.Completion).Should().Equal(0, 1);
        interrupted.State.Should().Be(WorkerState.Interrupted);
        driver.Scheduler.Metrics.TasksRequeued.Should().Be(2);
        driver.Lost.Should().HaveCount(1);
    }

    [Fact]
    public async Task OnWorkerInterruptedAsync_SuspectRunningAlone_StaysASuspectWithItsDeaths()
    {
        var driver = new SchedulerDriver(maxWorkerDeaths: 2);
        var killed = driver.AddWorker("w1", slots: 1);
        var job = driver.Submit(1);
        driver.Take(killed).Should().Equal(0);
        await driver.Scheduler.OnWorkerLostAsync(killed, null);
        var interrupted = driver.AddWorker("w2", slots: 4);
        driver.Take(interrupted).Should().Equal(0);

        await driver.Scheduler.OnWorkerInterruptedAsync(interrupted, Notice);

        var other = driver.AddWorker("w3", slots: 4);
        driver.Submit(2);
        driver.Take(other).Should().Equal([0], "the item was present at a death: it goes first, alone");
        driver.Take(other).Should().BeNull("it runs alone though other items are queued");
        await driver.Scheduler.OnWorkerLostAsync(other, null);
        var error = (await job.Completion.Invoking(c => c).Should().ThrowAsync<WorkerLostException>()).Which;
        error.WorkerDeaths.Should().Equal("w1 was killed", "w3 was killed while running alone");
    }
}
