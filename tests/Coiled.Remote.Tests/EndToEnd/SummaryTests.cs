using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary><see cref="Cluster.Summary"/>: exact counts after a known workload, frozen at close.</summary>
public sealed class SummaryTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Summary_AfterKnownWorkload_CountsAreExactAndFrozenAtClose()
    {
        using var temp = new TempDirectory();
        var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend() });
        ClusterSummary running;
        try
        {
            await cluster.MapAsync(TestJobs.Square, Enumerable.Range(0, 50).Select(i => (double)i)).WaitAsync(Safety);
            await cluster.MapOutcomesAsync(TestJobs.FailOnSeven, Enumerable.Range(0, 10).Select(i => (double)i)).WaitAsync(Safety);
            await cluster.SubmitAsync(TestJobs.FlakyThenSucceeds, Path.Combine(temp.Path, "counter"), 2).WaitAsync(Safety);
            running = cluster.Summary;
        }
        finally
        {
            await cluster.DisposeAsync();
        }

        running.Should().BeEquivalentTo(new { TasksRun = 61L, TasksFailed = 1L, TasksRetried = 2L, SyncBytes = 0L, Cost = 0m });
        var closed = cluster.Summary;
        closed.Should().BeEquivalentTo(new { TasksRun = 61L, TasksFailed = 1L, TasksRetried = 2L, SyncBytes = 0L, Cost = 0m });
        closed.WorkerSeconds.Should().BeGreaterThan(0).And.BeGreaterThanOrEqualTo(running.WorkerSeconds);
        closed.ArgumentBytes.Should().BeGreaterThanOrEqualTo(63, "61 tasks and 2 retried attempts each sent at least one byte");
        closed.ResultBytes.Should().BeGreaterThanOrEqualTo(60);
        closed.BytesMoved.Should().Be(closed.ArgumentBytes + closed.ResultBytes);
        await Task.Delay(50);
        cluster.Summary.Should().Be(closed, "the summary stops changing once the cluster is closed");
    }

    [Fact]
    public async Task Summary_LocalWorkersWithEmptyCache_CountsSynchronizedBytesAndWorkerSeconds()
    {
        using var cache = new TempDirectory();
        var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new LocalProcessBackend { CacheDirectory = cache.Path } });
        await using (cluster)
        {
            await cluster.MapAsync(TestJobs.Square, [1.0, 2.0]).WaitAsync(Safety);
        }

        cluster.Summary.TasksRun.Should().Be(2);
        cluster.Summary.SyncBytes.Should().Be(cluster.LastSync.BytesSent).And.BeGreaterThan(0);
        cluster.Summary.WorkerSeconds.Should().BeGreaterThan(0);
        cluster.Summary.Cost.Should().Be(0m);
    }
}
