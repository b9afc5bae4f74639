using System.Globalization;
using System.Net;
using Coiled.Remote.Ec2.Simulation;
using Coiled.Remote.Tests.Support;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>
/// A worker whose machine's cloud announces its interruption (a spot instance's two-minute notice, read from a fake
/// IMDSv2 on loopback) in the middle of a call: its tasks go back to the queue at once, no death counts against them,
/// and no item is lost.
/// </summary>
public sealed class SpotInterruptionTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan PollPeriod = TimeSpan.FromMilliseconds(100);
    private static readonly DateTimeOffset NoticeTime = DateTimeOffset.Parse("2026-12-01T12:00:00Z", CultureInfo.InvariantCulture);
    private readonly TempDirectory _cache = new();
    private readonly CapturingLoggerProvider _logs = new();
    private ILoggerFactory _loggerFactory = null!;
    private LocalInstanceMetadata _metadata = null!;
    private InstanceMetadataBackend _backend = null!;
    private Cluster _cluster = null!;

    public async Task InitializeAsync()
    {
        _loggerFactory = _logs.CreateFactory();
        _metadata = await LocalInstanceMetadata.StartAsync(IPAddress.Loopback);
        _backend = new InstanceMetadataBackend(_metadata, PollPeriod, _cache.Path);
        _cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 2,
            Backend = _backend,
            LoggerFactory = _loggerFactory,
            // A single death counted against a task would fail it: the interruption must count none.
            MaxWorkerDeaths = 1,
        });
    }

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        await _metadata.DisposeAsync();
        _loggerFactory.Dispose();
        _cache.Dispose();
    }

    [Fact]
    public async Task MapAsync_WorkerInterruptedMidCall_EveryResultRightItsTasksRequeuedAtOnceAndNoDeathCounted()
    {
        var map = _cluster.MapAsync(TestJobs.SlowIdentity, Enumerable.Range(0, 400));
        await Eventually.HoldsAsync(() => _cluster.Summary.TasksRun >= 40, "the call to be under way");
        var victim = _cluster.Workers[0].Id;
        var instance = _backend.InstanceOf[victim];

        _metadata.Interrupt(instance, "terminate", NoticeTime);
        var results = await map.WaitAsync(TimeSpan.FromMinutes(2));

        results.Should().Equal(Enumerable.Range(0, 400));
        var summary = _cluster.Summary;
        summary.TasksFailed.Should().Be(0);
        summary.TasksRun.Should().Be(400, "no task was lost, and none ran twice to its call");
        var warning = _logs.Entries.Should().ContainSingle(e => e.Values.ContainsKey("Action") && e.Category.EndsWith(".Scheduler", StringComparison.Ordinal)).Which;
        warning.Level.Should().Be(LogLevel.Warning);
        var requeued = (int)warning.Values["Count"]!;
        requeued.Should().BeGreaterThan(0, "the worker had tasks in flight mid-call");
        summary.TasksRequeued.Should().Be(requeued);
        warning.Message.Should().StartWith($"Worker {victim} at ").And.EndWith(
            $" is being reclaimed: its cloud will terminate its machine at 2026-12-01T12:00:00Z (a spot interruption notice); {requeued} task(s) go back to the queue, with no worker death counted against them");
        _logs.Entries.Where(e => e.Message.Contains("worker processes that died") || e.Message.Contains(" was lost")).Select(e => e.Message).Should().BeEmpty();

        var noticeToRequeue = warning.At - _metadata.InterruptionReadAt(instance)!.Value;
        output.WriteLine($"notice read by the worker -> tasks requeued by the caller: {noticeToRequeue.TotalMilliseconds:0.0} ms ({requeued} tasks)");
        noticeToRequeue.Should().BeLessThan(TimeSpan.FromSeconds(1));

        // The interrupted worker is out, and a replacement took its place.
        var workers = _cluster.Workers;
        workers.Single(w => w.Id == victim).State.Should().Be(WorkerState.Interrupted);
        await Eventually.HoldsAsync(() => _cluster.Workers.Count(w => w.State == WorkerState.Ready) == 2, "a replacement worker");
        _backend.InstanceOf.Values.Should().Equal("i-1", "i-2", "i-3");
    }

    [Fact]
    public async Task MapAsync_RebalanceRecommended_WarnsOnceAndTheWorkerKeepsItsTasks()
    {
        var map = _cluster.MapAsync(TestJobs.SlowIdentity, Enumerable.Range(0, 200));
        await Eventually.HoldsAsync(() => _cluster.Summary.TasksRun >= 20, "the call to be under way");
        var worker = _cluster.Workers[0].Id;

        _metadata.RecommendRebalance(_backend.InstanceOf[worker], NoticeTime);
        var results = await map.WaitAsync(TimeSpan.FromMinutes(2));
        await Eventually.HoldsAsync(() => _logs.Entries.Any(e => e.Message.Contains("rebalance recommendation", StringComparison.Ordinal) && e.Category.EndsWith(".Scheduler", StringComparison.Ordinal)), "the caller's warning");

        results.Should().Equal(Enumerable.Range(0, 200));
        _logs.Entries.Where(e => e.Category.EndsWith(".Scheduler", StringComparison.Ordinal)).Should().ContainSingle().Which.Should().Match<LogEntry>(e => e.Level == LogLevel.Warning
            && e.Message.StartsWith($"Worker {worker} at ", StringComparison.Ordinal)
            && e.Message.EndsWith(": its cloud recommends moving work off its machine (a rebalance recommendation of 2026-12-01T12:00:00Z); it keeps its tasks, and an interruption notice may follow", StringComparison.Ordinal));
        _cluster.Workers.Should().OnlyContain(w => w.State == WorkerState.Ready);
        _cluster.Summary.TasksRequeued.Should().Be(0);
    }
}
