using System.Text.Json;
using Coiled.Remote.Dashboard;
using Coiled.Remote.Scheduling;
using Coiled.Remote.Tests.Scheduling;
using Coiled.Remote.Transport.Protocol;
using Microsoft.Extensions.Time.Testing;

namespace Coiled.Remote.Tests.Dashboard;

/// <summary>The dashboard's snapshots: what they say of workers, calls and cost, and that they stay small.</summary>
public sealed class DashboardFeedTests
{
    [Fact]
    public void Snapshot_BeforeTheClusterRuns_SaysStartingWithNoWorkers()
    {
        var feed = new DashboardFeed(new DashboardRecorder(new FakeTimeProvider()), "in-process");

        var snapshot = feed.Snapshot(0);

        snapshot.State.Should().Be("starting");
        snapshot.Backend.Should().Be("in-process");
        snapshot.Workers.Should().BeEmpty();
        snapshot.Cost.Should().Be(new DashboardCost(null, null, 0, null));
    }

    [Fact]
    public void Snapshot_WorkersWithReports_ShowCpuShareMemoryAndRunningTasks_AndEndedOnesLastWithTheirReason()
    {
        var time = new FakeTimeProvider();
        var recorder = new DashboardRecorder(time);
        var feed = new DashboardFeed(recorder, "local processes");
        var cluster = new FakeDashboardCluster { Time = (12.5, 0.25) };
        cluster.Workers.Add(new WorkerSample("w-1", WorkerState.Ready, new Uri("http://127.0.0.1:7001/"), 4, 4, 10.0, 100_000_000, 20_000_000));
        cluster.Workers.Add(new WorkerSample("w-2", WorkerState.Lost, new Uri("http://127.0.0.1:7002/"), 2, 2, 3.0, 50_000_000, 5_000_000));
        cluster.Workers.Add(new WorkerSample("w-3", WorkerState.Ready, new Uri("http://127.0.0.1:7003/"), 2, 2, null, null, null));
        cluster.InFlight["w-1"] = 7;
        recorder.WorkerEnded("w-2", "its process exited with code 137");
        feed.Attach(cluster);

        feed.Snapshot(0).Workers.Single(w => w.Id == "w-1").CpuPercent.Should().BeNull("one report gives no rate");
        time.Advance(TimeSpan.FromSeconds(1));
        cluster.Workers[0] = cluster.Workers[0] with { CpuSeconds = 12.0 };
        var snapshot = feed.Snapshot(0);

        snapshot.State.Should().Be("running");
        snapshot.Workers.Select(w => w.Id).Should().Equal("w-1", "w-3", "w-2");
        snapshot.Workers[0].Should().Be(new DashboardWorker("w-1", "Ready", "http://127.0.0.1:7001/", 4, 4, 50, 100_000_000, 20_000_000, 4, 0, null));
        snapshot.Workers[2].Should().BeEquivalentTo(new { State = "Lost", Running = 0, Ended = "its process exited with code 137" });
        snapshot.Cost.Should().Be(new DashboardCost(null, null, 12.5, 0.25));
    }

    [Fact]
    public void Snapshot_CostRate_IsDollarsPerHourOverTheLastMinute()
    {
        var time = new FakeTimeProvider();
        var feed = new DashboardFeed(new DashboardRecorder(time), "ec2");
        var cluster = new FakeDashboardCluster { Cost = 1.00m };
        feed.Attach(cluster);

        feed.Snapshot(0).Cost.DollarsPerHour.Should().BeNull("one look gives no rate");
        time.Advance(TimeSpan.FromSeconds(36));
        cluster.Cost = 1.01m;

        feed.Snapshot(0).Cost.Should().Be(new DashboardCost(1.01m, 1.00m, 0, 0));
    }

    [Fact]
    public void Snapshot_ManyWorkersCallsBarsAndLongErrors_StaysWithinItsLimitsAndAFewHundredKilobytes()
    {
        var driver = new SchedulerDriver(dashboard: true);
        var worker = driver.AddWorker("w-0", 64);
        var feed = new DashboardFeed(driver.Dashboard!, "local processes");
        var cluster = new FakeDashboardCluster();
        for (var i = 0; i < 1000; i++)
        {
            cluster.Workers.Add(new WorkerSample($"w-{i}", i % 2 == 0 ? WorkerState.Ready : WorkerState.Lost, new Uri($"http://10.0.{i / 256}.{i % 256}:7400/"), 64, 64, i, long.MaxValue, long.MaxValue));
            driver.Dashboard!.WorkerEnded($"w-{i}", new string('x', 300));
        }

        feed.Attach(cluster);
        var failing = new OutcomeJob<int>(new TestStub(), 100_000, CancellationToken.None);
        driver.Scheduler.Submit(failing, [new ArgumentChunk(0, new byte[100_000], [.. Enumerable.Range(1, 100_000)], 100_000)]);
        for (var i = 0; i < 300; i++)
        {
            driver.Submit(1000);
        }

        for (var i = 0; i < 200; i++)
        {
            var tasks = driver.Scheduler.TakeRequest(worker) is { Request.Tasks: { } taken } ? taken.TaskIds.ToList() : [];
            driver.Time.Advance(TimeSpan.FromMilliseconds(DashboardLimits.MergeGapMs + 10));
            driver.Scheduler.OnResults(worker, Answer(tasks, failing.Id));
        }

        var snapshot = feed.Snapshot(0);
        var json = JsonSerializer.SerializeToUtf8Bytes(snapshot, DashboardJson.Default.DashboardSnapshot);

        snapshot.Workers.Should().HaveCount(DashboardLimits.WorkersSent);
        snapshot.Calls.Should().HaveCount(DashboardLimits.CallsSent);
        snapshot.Bars.Should().HaveCountLessThanOrEqualTo(DashboardLimits.BarsSent);
        snapshot.Errors.Should().HaveCount(DashboardLimits.ErrorsKept);
        snapshot.Errors.Should().OnlyContain(e => e.Message.Length == DashboardLimits.MessageChars && e.Stack.Count == DashboardLimits.StackLines);
        json.Length.Should().BeLessThan(400 * 1024);
    }

    private static readonly string LongMessage = new('m', 10_000);
    private static readonly string LongStack = string.Join('\n', Enumerable.Repeat(new string('s', 1000), 50));

    /// <summary>The tasks' results: those of <paramref name="failingJob"/> fail with a long message and stack, the others return 0.</summary>
    private static ResultBatch Answer(List<ulong> tasks, uint failingJob)
    {
        var batch = new ResultBatch { ExecutionNanoseconds = 64_000_000 };
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        var writer = new MessagePack.MessagePackWriter(buffer);
        foreach (var task in tasks)
        {
            if (task >> 32 == failingJob)
            {
                batch.Failures.Add(new TaskFailure
                {
                    TaskId = task, Kind = FailureKind.Exception, ExceptionType = "System.Exception",
                    Message = LongMessage, StackTrace = LongStack,
                });
            }
            else
            {
                batch.TaskIds.Add(task);
                writer.Write(0);
            }
        }

        writer.Flush();
        batch.Results = Google.Protobuf.ByteString.CopyFrom(buffer.WrittenSpan);
        return batch;
    }
}
