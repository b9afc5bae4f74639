using System.Diagnostics;
using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>Per-call <see cref="MapProgress"/> and the cluster-wide <see cref="ClusterOptions.Progress"/> during runs.</summary>
public sealed class ProgressTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task MapAsync_WithProgress_LastReportHasDoneEqualToTotal()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend() });
        var progress = new SynchronousProgress<MapProgress>();

        var squares = await cluster.MapAsync(TestJobs.Square, Enumerable.Range(0, 500).Select(i => (double)i), progress).WaitAsync(Safety);

        squares.Should().HaveCount(500);
        var reports = progress.Reports;
        reports.Should().NotBeEmpty();
        reports[^1].Should().BeEquivalentTo(new { Done = 500L, Failed = 0L, Total = 500L, EstimatedRemaining = TimeSpan.Zero });
        reports[^1].Fraction.Should().Be(1.0);
        reports.Should().OnlyContain(r => r.Total == 500 && r.ItemsPerSecond >= 0);
        reports.Select(r => r.Done).Should().BeInAscendingOrder();
    }

    [Fact]
    public async Task MapOutcomesAsync_WithProgress_CountsTheFailedItem()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend() });
        var progress = new SynchronousProgress<MapProgress>();

        await cluster.MapOutcomesAsync(TestJobs.FailOnSeven, Enumerable.Range(0, 10).Select(i => (double)i), progress).WaitAsync(Safety);

        progress.Reports[^1].Should().BeEquivalentTo(new { Done = 9L, Failed = 1L, Total = 10L });
    }

    [Fact]
    public async Task MapStreamAsync_WithProgress_EndsWithTheTotalTheSourceHad()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend() });
        var progress = new SynchronousProgress<MapProgress>();

        var count = 0;
        await foreach (var _ in cluster.MapStreamAsync(TestJobs.Identity, Enumerable.Range(0, 300), progress).WithCancellation(CancellationToken.None))
        {
            count++;
        }

        count.Should().Be(300);
        var reports = progress.Reports;
        reports[^1].Should().BeEquivalentTo(new { Done = 300L, Failed = 0L, Total = 300L });
        reports.Should().OnlyContain(r => r.Total == -1 || r.Total == 300);
        reports.Should().NotContain(r => r.Total == -1 && (r.EstimatedRemaining != null || r.Fraction != null), "nothing is estimated before the total is known");
    }

    [Fact]
    public async Task MapAsync_WithProgress_ReportsAtMostAboutTenTimesASecond()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend { SlotsPerWorker = 1 } });
        var progress = new SynchronousProgress<MapProgress>();
        var clock = Stopwatch.StartNew();

        await cluster.MapAsync(TestJobs.SlowIdentity, Enumerable.Range(0, 50), progress).WaitAsync(Safety);

        // 50 items of 20 ms on two slots take about half a second: without throttling there would be a report per item.
        var elapsed = clock.Elapsed;
        progress.Reports.Count.Should().BeLessThanOrEqualTo((int)(elapsed.TotalMilliseconds / 100) + 2);
        progress.Reports[^1].Done.Should().Be(50);
    }

    [Fact]
    public async Task MapAsync_EmptyItemsWithProgress_ReportsOneFinalReport()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend() });
        var progress = new SynchronousProgress<MapProgress>();

        await cluster.MapAsync(TestJobs.Square, Array.Empty<double>(), progress).WaitAsync(Safety);

        progress.Reports.Should().ContainSingle().Which.Should().BeEquivalentTo(new { Done = 0L, Total = 0L });
    }

    [Fact]
    public async Task ClusterOptionsProgress_DuringMap_ReceivesRunningReportsEndingIdle()
    {
        var progress = new SynchronousProgress<ClusterProgress>();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 2,
            Backend = new InProcessBackend { SlotsPerWorker = 1 },
            Progress = progress,
        });
        progress.Reports.Select(r => (r.Phase, r.WorkersReady)).Should().Equal(
            ("starting workers", 0), ("synchronizing", 0), ("starting workers", 1), ("starting workers", 2), ("running", 2));
        progress.Clear();

        await cluster.MapAsync(TestJobs.SlowIdentity, Enumerable.Range(0, 40)).WaitAsync(Safety);

        // The last report comes when the call's job ends, which may be just after the caller resumed.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!progress.Reports.Any(r => r.TasksDone == 40) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        var reports = progress.Reports;
        reports.Should().HaveCountGreaterThan(1).And.OnlyContain(r => r.Phase == "running" && r.WorkersReady == 2 && r.WorkersRequested == 2);
        reports.Should().Contain(r => r.TasksDone > 0 && r.TasksDone < 40, "reports arrive while the map runs");
        reports[^1].Should().BeEquivalentTo(new { TasksQueued = 0L, TasksRunning = 0L, TasksDone = 40L, TasksFailed = 0L });
    }
}
