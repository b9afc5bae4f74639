using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Coiled.Remote.Telemetry;
using Coiled.Remote.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Tests.Telemetry;

/// <summary>The "Coiled.Remote" ActivitySource and Meter, seen through plain listeners as an exporter would see them.</summary>
public sealed class TelemetryTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task MapAsync_ListenerSamples_OneActivityPerMapAndOnePerTaskTaggedWithWorkerIds()
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Coiled.Remote",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend { SlotsPerWorker = 2 } });

        var squares = await cluster.MapAsync(TestJobs.Square, Enumerable.Range(0, 20).Select(i => (double)i)).WaitAsync(Safety);

        squares.Should().HaveCount(20);
        var mine = stopped.Where(a => Equals(a.GetTagItem(RemoteTelemetry.ClusterTag), cluster.Id)).ToList();
        var map = mine.Should().ContainSingle(a => a.OperationName == "map").Subject;
        map.DisplayName.Should().Be("map TestJobs.Square");
        map.GetTagItem(RemoteTelemetry.ItemCountTag).Should().Be(20L);
        map.GetTagItem(RemoteTelemetry.MethodTag).Should().Be("TestJobs.Square");
        map.Status.Should().Be(ActivityStatusCode.Unset);

        var tasks = stopped.Where(a => a.OperationName == "task" && a.ParentSpanId == map.SpanId).ToList();
        tasks.Should().HaveCount(20);
        tasks.Should().OnlyContain(a => a.TraceId == map.TraceId && a.Kind == ActivityKind.Client && a.Duration > TimeSpan.Zero);
        tasks.Select(a => (int)a.GetTagItem(RemoteTelemetry.ItemIndexTag)!).Should().BeEquivalentTo(Enumerable.Range(0, 20));
        tasks.Select(a => (string)a.GetTagItem(RemoteTelemetry.WorkerTag)!).Should().BeSubsetOf(cluster.Workers.Select(w => w.Id));
        tasks.Should().OnlyContain(a => (int)a.GetTagItem(RemoteTelemetry.AttemptTag)! == 0);
        tasks.Should().OnlyContain(a => (int)a.GetTagItem(RemoteTelemetry.ArgumentBytesTag)! > 0 && (long)a.GetTagItem(RemoteTelemetry.ResultBytesTag)! > 0);
    }

    [Fact]
    public async Task MapOutcomesAsync_OneItemThrows_TaskActivityHasErrorStatus()
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Coiled.Remote",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend() });

        await cluster.MapOutcomesAsync(TestJobs.FailOnSeven, Enumerable.Range(0, 10).Select(i => (double)i)).WaitAsync(Safety);

        var map = stopped.Single(a => a.OperationName == "map_outcomes" && Equals(a.GetTagItem(RemoteTelemetry.ClusterTag), cluster.Id));
        var failed = stopped.Where(a => a.ParentSpanId == map.SpanId && a.Status == ActivityStatusCode.Error).Should().ContainSingle().Subject;
        failed.GetTagItem(RemoteTelemetry.ItemIndexTag).Should().Be(7);
        failed.GetTagItem("error.type").Should().Be("System.InvalidOperationException");
        failed.StatusDescription.Should().Contain("seven is not allowed");
    }

    [Fact]
    public async Task MapOutcomesAsync_OneItemFails_MeterCountsDoneFailedAndDurations()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend() });
        using var meter = new MeterRecorder(cluster.Id);

        var outcomes = await cluster.MapOutcomesAsync(TestJobs.FailOnSeven, Enumerable.Range(0, 10).Select(i => (double)i)).WaitAsync(Safety);

        outcomes.Count(o => o.Succeeded).Should().Be(9);
        meter.Sum("coiled.remote.tasks.done").Should().Be(9);
        meter.Sum("coiled.remote.tasks.failed").Should().Be(1);
        meter.Sum("coiled.remote.tasks.retried").Should().Be(0);
        meter.Count("coiled.remote.task.duration").Should().Be(10, "every task, done or failed, records a duration");
        meter.Sum("coiled.remote.arguments.bytes").Should().BeGreaterThan(0);
        meter.Sum("coiled.remote.results.bytes").Should().BeGreaterThan(0);

        meter.Observe();
        meter.Last("coiled.remote.tasks.queued").Should().Be(0);
        meter.Last("coiled.remote.tasks.running").Should().Be(0);
    }

    [Fact]
    public async Task SubmitAsync_MethodRetries_MeterCountsRetries()
    {
        using var temp = new TempDirectory();
        using var logs = new CapturingLoggerProvider();
        using var loggerFactory = logs.CreateFactory();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend(), LoggerFactory = loggerFactory });
        using var meter = new MeterRecorder(cluster.Id);

        (await cluster.SubmitAsync(TestJobs.FlakyThenSucceeds, Path.Combine(temp.Path, "counter"), 2).WaitAsync(Safety)).Should().Be(3);

        // Should this ever fail, say what the cluster went through (a worker declared lost on a loaded machine, say).
        var story = string.Join(" | ", logs.Entries.Where(e => e.Level >= LogLevel.Information).Select(e => $"{e.Level}: {e.Message}"));
        meter.Sum("coiled.remote.tasks.retried").Should().Be(2, story);
        meter.Sum("coiled.remote.tasks.done").Should().Be(1, story);
        meter.Sum("coiled.remote.tasks.failed").Should().Be(0, story);
    }

    [Fact]
    public async Task LocalWorkers_AfterAboutASecond_MeterReportsEachWorkersCpuAndMemory()
    {
        using var cache = new TempDirectory();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new LocalProcessBackend { CacheDirectory = cache.Path } });
        using var meter = new MeterRecorder(cluster.Id);
        await cluster.MapAsync(TestJobs.Square, Enumerable.Range(0, 100).Select(i => (double)i)).WaitAsync(Safety);
        meter.Sum("coiled.remote.sync.bytes").Should().Be(0, "the recorder was attached after the start-up synchronization");

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        Dictionary<string, double> cpu;
        do
        {
            await Task.Delay(200);
            meter.Observe();
            cpu = meter.ByWorker("coiled.remote.worker.cpu.time");
        }
        while (cpu.Count < 2 && DateTime.UtcNow < deadline);

        cpu.Keys.Should().BeEquivalentTo(cluster.Workers.Select(w => w.Id));
        cpu.Values.Should().OnlyContain(seconds => seconds > 0);
        meter.ByWorker("coiled.remote.worker.memory.working_set").Values.Should().OnlyContain(bytes => bytes > 1_000_000);
        meter.ByWorker("coiled.remote.worker.memory.gc_heap").Values.Should().OnlyContain(bytes => bytes > 0);
        var pauses = meter.ByWorker("coiled.remote.worker.gc.pause.time");
        pauses.Keys.Should().BeEquivalentTo(cpu.Keys);
        pauses.Values.Should().OnlyContain(seconds => seconds >= 0 && seconds < cpu.Values.Max(), "a process is paused for garbage collection part of the time it runs");
    }
}
