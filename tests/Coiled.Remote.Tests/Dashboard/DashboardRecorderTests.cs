using Coiled.Remote.Dashboard;
using Coiled.Remote.Scheduling;
using Coiled.Remote.Tests.Scheduling;
using Coiled.Remote.Transport.Protocol;

namespace Coiled.Remote.Tests.Dashboard;

/// <summary>What the scheduler tells the dashboard, a batch at a time, on a fake clock: exact counts, bars and errors.</summary>
public sealed class DashboardRecorderTests
{
    [Fact]
    public void Results_OfAMapThatFails_CountDoneAndFailedForTheCallAndTheWorker()
    {
        var driver = new SchedulerDriver(dashboard: true);
        var worker = driver.AddWorker("w-1", 4);
        var job = driver.Submit(6);
        driver.Take(worker).Should().Equal(0, 1, 2, 3, 4, 5);

        driver.Succeed(worker, job, 0, 1);
        driver.Fail(worker, job, FailureKind.Exception, 2);

        var call = driver.Dashboard!.Calls(driver.Dashboard.NowMs).Should().ContainSingle().Subject;
        call.Should().BeEquivalentTo(new { Id = 1L, Method = "TestStub.Square", Done = 2L, Failed = 1L, Total = 6L, Outcome = "failed" });
        driver.Dashboard.WorkerActivities().Should().Equal(new Dictionary<string, (long, string?)> { ["w-1"] = (3, null) });
        var error = driver.Dashboard.Errors().Should().ContainSingle().Subject;
        error.Should().BeEquivalentTo(new { Method = "TestStub.Square", Item = 2, Worker = "w-1", Type = "System.InvalidOperationException", Message = "item 2 threw" });
    }

    [Fact]
    public void Batches_OnOneSlotCloserThanTheMergeGap_AreOneBar_AndALaterOneStartsAnother()
    {
        var driver = new SchedulerDriver(dashboard: true);
        var worker = driver.AddWorker("w-1", 1);
        var job = driver.Submit(3);
        driver.Take(worker).Should().Equal(0, 1);

        driver.Time.Advance(TimeSpan.FromMilliseconds(100));
        driver.SucceedAfter(worker, job, TimeSpan.FromMilliseconds(10), 0);
        driver.Take(worker).Should().Equal(2);
        driver.Time.Advance(TimeSpan.FromMilliseconds(50));
        driver.SucceedAfter(worker, job, TimeSpan.FromMilliseconds(10), 1);
        driver.Time.Advance(TimeSpan.FromMilliseconds(1000));
        driver.SucceedAfter(worker, job, TimeSpan.FromMilliseconds(10), 2);

        driver.Dashboard!.Bars(0, 100).Should().Equal(
            new TaskBar(0, "w-1", 0, "TestStub.Square", 90, 150, 2, false),
            new TaskBar(1, "w-1", 0, "TestStub.Square", 1140, 1150, 1, false));
        driver.Dashboard.Bars(1150, 100).Should().ContainSingle().Which.Id.Should().Be(1, "the page asks only for bars that ended since its last look");
        driver.Dashboard.Calls(driver.Dashboard.NowMs).Single().Outcome.Should().Be("completed");
    }

    [Fact]
    public void Failures_AreRedBars_AndOnlyTheLatestTwentyErrorsAreKept()
    {
        var driver = new SchedulerDriver(dashboard: true);
        var worker = driver.AddWorker("w-1", 64);
        var job = new OutcomeJob<int>(new TestStub(), 30, CancellationToken.None);
        driver.Scheduler.Submit(job, [new ArgumentChunk(0, new byte[30], [.. Enumerable.Range(1, 30)], 30)]);
        var items = driver.Take(worker)!;
        items.Should().HaveCount(30);

        foreach (var item in items)
        {
            driver.Time.Advance(TimeSpan.FromMilliseconds(1));
            driver.Fail(worker, job, FailureKind.Exception, item);
        }

        var errors = driver.Dashboard!.Errors();
        errors.Select(e => e.Item).Should().Equal(Enumerable.Range(10, 20), "the latest 20 failures are kept, oldest first");
        errors[^1].Message.Should().Be("item 29 threw");
        var bars = driver.Dashboard.Bars(0, 1000);
        bars.Should().HaveCount(30).And.OnlyContain(b => b.Failed && b.Tasks == 1);
        driver.Dashboard.Calls(driver.Dashboard.NowMs).Single().Should().BeEquivalentTo(new { Done = 0L, Failed = 30L, Total = 30L, Outcome = "completed" });
    }

    [Fact]
    public void ManyBatches_OnManySlots_KeepAndSendABoundedNumberOfBars_TheLatest()
    {
        var driver = new SchedulerDriver(dashboard: true);
        var worker = driver.AddWorker("w-1", 64);
        const int Batches = 400;
        var job = driver.Submit(Batches * Coiled.Remote.Transport.WireLimits.MaxTasksPerBatch);
        var ran = 0;
        for (var i = 0; i < Batches; i++)
        {
            var items = driver.Take(worker);
            items.Should().NotBeNull("batch {0} after {1} items has work", i, ran);
            items!.Length.Should().BeGreaterThanOrEqualTo(64, "each batch fills every slot");
            ran += items.Length;
            driver.Time.Advance(TimeSpan.FromMilliseconds(DashboardLimits.MergeGapMs + 10));
            driver.SucceedAfter(worker, job, TimeSpan.FromMilliseconds(64), items);
        }

        var kept = driver.Dashboard!.Bars(0, int.MaxValue);
        kept.Should().HaveCount(DashboardLimits.BarsKept, "each batch ran on all 64 slots, too far apart to merge, and only the latest bars are kept");
        kept[^1].Id.Should().Be((Batches * 64) - 1);
        var sent = driver.Dashboard.Bars(0, DashboardLimits.BarsSent);
        sent.Should().HaveCount(DashboardLimits.BarsSent);
        sent.Select(b => b.Id).Should().Equal(Enumerable.Range((Batches * 64) - DashboardLimits.BarsSent, DashboardLimits.BarsSent).Select(i => (long)i));
        driver.Dashboard.WorkerActivities()["w-1"].Done.Should().Be(ran);
    }

    [Fact]
    public void ManyCalls_SomeEnded_ListRunningOnesNewestFirst_ThenTheLatestTenEnded()
    {
        var driver = new SchedulerDriver(dashboard: true);
        driver.AddWorker("w-1", 1);
        var jobs = Enumerable.Range(0, 50).Select(_ => driver.Submit(1)).ToList();

        foreach (var job in jobs.Where(j => j.Id % 2 == 1))
        {
            job.Fail(new InvalidOperationException("cancelled by the test"));
        }

        var recorder = driver.Dashboard!;
        recorder.Calls(recorder.NowMs, DashboardLimits.CallsSent).Select(c => c.Id).Should().Equal(Enumerable.Range(0, 20).Select(i => 50L - (2 * i)));
        var all = recorder.Calls(recorder.NowMs);
        all.Select(c => c.Id).Should().Equal([.. Enumerable.Range(0, 25).Select(i => 50L - (2 * i)), .. Enumerable.Range(0, 10).Select(i => 49L - (2 * i))]);
        all.Skip(25).Should().OnlyContain(c => c.Outcome == "failed" && c.Total == 1 && c.EndedMs != null);
    }
}
