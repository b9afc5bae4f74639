using Coiled.Remote.Tests.Support;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>
/// How busy a cluster's workers were (<see cref="ClusterSummary.BusyWorkerSeconds"/> and the close line) and the warning
/// that it keeps idle workers, on a fake clock that moves only when the test moves it.
/// </summary>
public sealed class EfficiencyTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Summary_OneTaskHeldTenOfThirtySecondsOnOneWorker_IsBusyTenOfThirtyPaidSecondsAndSaysSoAtClose()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var logs = new CapturingLoggerProvider();
        using var loggerFactory = logs.CreateFactory();
        using var gate = new TaskGate();
        var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 1,
            Backend = new InProcessBackend(),
            TimeProvider = time,
            LoggerFactory = loggerFactory,
            IdleWarningAfter = Timeout.InfiniteTimeSpan,
        });
        await using (cluster)
        {
            time.Advance(TimeSpan.FromSeconds(10));
            var call = cluster.SubmitAsync(TestJobs.IdentityWhenReleasedAsync, 7, gate.Folder);
            await gate.WaitUntilAsync(started => started.Count == 1, "the task to start");
            time.Advance(TimeSpan.FromSeconds(10));
            gate.Release();
            (await call.WaitAsync(Safety)).Should().Be(7);
            time.Advance(TimeSpan.FromSeconds(10));
        }

        var summary = cluster.Summary;
        summary.BusyWorkerSeconds.Should().Be(10, "the worker held its one task from t = 10 s to t = 20 s of the cluster's clock");
        summary.WorkerSeconds.Should().Be(30);
        summary.PaidWorkerSeconds.Should().Be(30, "local workers are paid for while they are connected");
        summary.IdleShare.Should().BeApproximately(2.0 / 3, 1e-12);
        summary.IdleCost.Should().Be(0m, "in-process workers cost nothing");
        var closed = logs.Entries.Should().ContainSingle(e => e.Message.StartsWith("Cluster closed:", StringComparison.Ordinal)).Subject;
        closed.Message.Should().Be(
            $"Cluster closed: 1 task(s) run, 0 failed, 0 retried; 1 worker(s) for 30 s, busy 33 %, idle cost $0.0000; " +
            $"30.0 worker-seconds (10.0 busy, 30.0 paid); {summary.BytesMoved} byte(s) moved (arguments {summary.ArgumentBytes}, " +
            $"results {summary.ResultBytes}, synchronization 0); cost $0.0000");
    }

    [Fact]
    public async Task IdleWarning_TwoWorkersWithoutTasks_WarnsOnceWhenTheTimeHasPassedAndNotBefore()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var startedAt = time.GetUtcNow();
        using var logs = new CapturingLoggerProvider();
        using var loggerFactory = logs.CreateFactory();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 2,
            Backend = new InProcessBackend { SlotsPerWorker = 3 },
            TimeProvider = time,
            LoggerFactory = loggerFactory,
            IdleWarningAfter = TimeSpan.FromSeconds(20),
            // The test moves the clock faster than heartbeats come.
            WorkerTimeout = Timeout.InfiniteTimeSpan,
        });
        using var meter = new MeterRecorder(cluster.Id);
        (await cluster.SubmitAsync(TestJobs.Square, 3.0).WaitAsync(Safety)).Should().Be(9.0);

        await AdvanceAsync(time, TimeSpan.FromSeconds(19));
        await Task.Delay(300);
        IdleWarnings(logs).Should().BeEmpty("no worker has been idle for 20 s yet");

        time.Advance(TimeSpan.FromSeconds(1));
        await Eventually.HoldsAsync(() => IdleWarnings(logs).Count == 1, "the idle warning", Safety);
        await AdvanceAsync(time, TimeSpan.FromMinutes(2));
        await Task.Delay(300);

        var warning = IdleWarnings(logs).Should().ContainSingle("a cluster warns once").Subject;
        warning.Level.Should().Be(LogLevel.Warning);
        warning.Message.Should().Be(
            $"2 of 2 worker(s) have had no task for 20 s or more (the first since {startedAt:u}) while the cluster is kept; they run on 1 machine(s), " +
            "with 6 core(s) in all. Dispose the cluster when its work is done, or let it retire idle workers with cluster.Adapt(minimum, maximum)");
        meter.Sum("coiled.remote.cluster.idle.warnings").Should().Be(1);
    }

    [Fact]
    public async Task IdleWarning_WorkersWithNothingToDoWhileACallsLastTaskRuns_WaitsForTheCallToEndAndCountsFromThere()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var logs = new CapturingLoggerProvider();
        using var loggerFactory = logs.CreateFactory();
        using var gate = new TaskGate();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 2,
            Backend = new InProcessBackend { SlotsPerWorker = 1 },
            TimeProvider = time,
            LoggerFactory = loggerFactory,
            IdleWarningAfter = TimeSpan.FromSeconds(20),
            WorkerTimeout = Timeout.InfiniteTimeSpan,
        });

        var call = cluster.SubmitAsync(TestJobs.IdentityWhenReleasedAsync, 7, gate.Folder);
        await gate.WaitUntilAsync(started => started.Count == 1, "the long task to start");
        await AdvanceAsync(time, TimeSpan.FromSeconds(60));
        await Task.Delay(300);
        IdleWarnings(logs).Should().BeEmpty("the other worker has nothing to do, but a call still runs on the cluster");

        gate.Release();
        (await call.WaitAsync(Safety)).Should().Be(7);
        var ended = time.GetUtcNow();
        await AdvanceAsync(time, TimeSpan.FromSeconds(19));
        await Task.Delay(300);
        IdleWarnings(logs).Should().BeEmpty("idle time counts from the end of the last call");

        // The call's end reaches the scheduler a moment after its result reaches the caller: a second more at a time.
        for (var extra = 0; extra < 10 && IdleWarnings(logs).Count == 0; extra++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(200);
        }

        await Eventually.HoldsAsync(() => IdleWarnings(logs).Count == 1, "the idle warning", Safety);
        IdleWarnings(logs).Single().Message.Should().StartWith("2 of 2 worker(s) have had no task for 20 s or more (the first since ")
            .And.Contain("while the cluster is kept");
        time.GetUtcNow().Should().BeOnOrAfter(ended + TimeSpan.FromSeconds(20), "the warning came no sooner than 20 s after the call ended");
    }

    [Fact]
    public async Task IdleWarning_BackendThatKnowsPrices_SaysWhatTheIdleWorkersCostAnHourAndTheSummaryUsesItsPaidTime()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var startedAt = time.GetUtcNow();
        using var logs = new CapturingLoggerProvider();
        using var loggerFactory = logs.CreateFactory();
        var backend = new PricedBackend(hourly: 0.0947m);
        var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 3,
            Backend = backend,
            TimeProvider = time,
            LoggerFactory = loggerFactory,
            IdleWarningAfter = TimeSpan.FromMinutes(2),
            // The test moves the clock faster than heartbeats come.
            WorkerTimeout = Timeout.InfiniteTimeSpan,
        });
        await using (cluster)
        {
            await AdvanceAsync(time, TimeSpan.FromMinutes(2));
            await Eventually.HoldsAsync(() => IdleWarnings(logs).Count == 1, "the idle warning", Safety);
            (backend.PaidSeconds, backend.Cost) = (600, 0.02m);
        }

        IdleWarnings(logs).Should().ContainSingle().Which.Message.Should().Be(
            $"3 of 3 worker(s) have had no task for 2 min or more (the first since {startedAt:u}) while the cluster is kept; they cost $0.2841 an hour. " +
            "Dispose the cluster when its work is done, or let it retire idle workers with cluster.Adapt(minimum, maximum)");
        var summary = cluster.Summary;
        summary.PaidWorkerSeconds.Should().Be(600, "the backend knows what it paid for");
        summary.WorkerSeconds.Should().Be(360);
        summary.BusyWorkerSeconds.Should().Be(0);
        summary.IdleShare.Should().Be(1);
        summary.IdleCost.Should().Be(0.02m);
        logs.Entries.Should().ContainSingle(e => e.Message.StartsWith("Cluster closed:", StringComparison.Ordinal))
            .Which.Message.Should().StartWith("Cluster closed: 0 task(s) run, 0 failed, 0 retried; 3 worker(s) for 120 s, busy 0 %, idle cost $0.0200; 360.0 worker-seconds (0.0 busy, 600.0 paid); ");
    }

    [Fact]
    public async Task IdleWarning_InfiniteTime_NeverWarns()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var logs = new CapturingLoggerProvider();
        using var loggerFactory = logs.CreateFactory();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 1,
            Backend = new InProcessBackend(),
            TimeProvider = time,
            LoggerFactory = loggerFactory,
            IdleWarningAfter = Timeout.InfiniteTimeSpan,
            // The test moves the clock faster than heartbeats come.
            WorkerTimeout = Timeout.InfiniteTimeSpan,
        });

        await AdvanceAsync(time, TimeSpan.FromMinutes(5));
        await Task.Delay(300);

        IdleWarnings(logs).Should().BeEmpty();
        cluster.Workers.Should().ContainSingle().Which.State.Should().Be(WorkerState.Ready);
    }

    [Fact]
    public async Task StartAsync_NegativeIdleWarningAfter_ThrowsArgumentOutOfRangeSayingWhatToUse()
    {
        var act = () => Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend(), IdleWarningAfter = TimeSpan.FromSeconds(-5) });

        var thrown = (await act.Should().ThrowAsync<ArgumentOutOfRangeException>()).Which;
        thrown.ActualValue.Should().Be(TimeSpan.FromSeconds(-5));
        thrown.Message.Should().StartWith(
            "ClusterOptions.IdleWarningAfter is -5 s; it must not be negative (default 2 min). Use TimeSpan.Zero or Timeout.InfiniteTimeSpan to never warn about idle workers.");
    }

    [Fact]
    public async Task StartAsync_ZeroIdleWarningAfter_StartsAndRuns()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend(), IdleWarningAfter = TimeSpan.Zero });

        (await cluster.SubmitAsync(TestJobs.Square, 4.0).WaitAsync(Safety)).Should().Be(16.0);
    }

    private static List<LogEntry> IdleWarnings(CapturingLoggerProvider logs)
        => [.. logs.Entries.Where(e => e.Message.Contains(" while the cluster is kept;", StringComparison.Ordinal))];

    /// <summary>Moves the cluster's clock a second at a time, letting its once-a-second look run.</summary>
    private static async Task AdvanceAsync(FakeTimeProvider time, TimeSpan span)
    {
        for (var moved = TimeSpan.Zero; moved < span; moved += TimeSpan.FromSeconds(1))
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(10);
        }
    }
}
