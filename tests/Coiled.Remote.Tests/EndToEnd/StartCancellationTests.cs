using System.Diagnostics;
using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>
/// A start cancelled by the caller's token ends in <see cref="OperationCanceledException"/> for that token, whichever
/// step it cut short, and leaves no worker process running.
/// </summary>
public sealed class StartCancellationTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);

    [LinuxTheory]
    [InlineData("starting workers")]
    [InlineData("synchronizing")]
    public async Task StartAsync_CancelledWhenAPhaseIsReported_ThrowsOperationCanceledAndEveryWorkerExits(string phase)
    {
        using var cache = new TempDirectory();
        using var cancel = new CancellationTokenSource();
        var started = new List<int>();
        var progress = new CallbackProgress(p =>
        {
            if (p.Phase == phase)
            {
                started.AddRange(WorkerProcessesUsing(cache.Path));
                cancel.Cancel();
            }
        });
        var options = new ClusterOptions { Workers = 2, Backend = new LocalProcessBackend { CacheDirectory = cache.Path }, Progress = progress };

        var start = () => Cluster.StartAsync(options, cancel.Token).WaitAsync(Safety);

        (await start.Should().ThrowAsync<OperationCanceledException>()).Which.CancellationToken.Should().Be(cancel.Token);
        await ProcessAssert.AllExitAsync(started.Concat(WorkerProcessesUsing(cache.Path)), Safety);
        if (phase == "synchronizing")
        {
            started.Should().HaveCount(2, "both workers were running when the start was cancelled");
        }
    }

    [Fact]
    public async Task StartAsync_CancelledOnceWorkersStartedBeforeTheyAreReached_ThrowsOperationCanceledAndEveryWorkerExits()
    {
        using var cache = new TempDirectory();
        using var cancel = new CancellationTokenSource();
        var backend = new CancellingBackend(new LocalProcessBackend { CacheDirectory = cache.Path }, cancel);

        var start = () => Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = backend }, cancel.Token).WaitAsync(Safety);

        (await start.Should().ThrowAsync<OperationCanceledException>()).Which.CancellationToken.Should().Be(cancel.Token);
        backend.Started.Should().HaveCount(2);
        await ProcessAssert.AllExitAsync(backend.Started, Safety);
    }

    /// <summary>Worker processes whose command line names <paramref name="cache"/>, found through /proc.</summary>
    private static List<int> WorkerProcessesUsing(string cache)
    {
        var found = new List<int>();
        foreach (var process in Process.GetProcesses())
        {
            using (process)
            {
                try
                {
                    var arguments = File.ReadAllText($"/proc/{process.Id}/cmdline").Split('\0');
                    if (arguments.Contains("--cache-dir") && arguments.Contains(cache))
                    {
                        found.Add(process.Id);
                    }
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // Gone, or not ours to read.
                }
            }
        }

        return found;
    }

    /// <summary>Reports on the reporting thread, so that a cancel happens before the cluster goes on.</summary>
    private sealed class CallbackProgress(Action<ClusterProgress> report) : IProgress<ClusterProgress>
    {
        public void Report(ClusterProgress value) => report(value);
    }

    /// <summary>Starts workers for real, then cancels the start before the cluster connects to them.</summary>
    private sealed class CancellingBackend(LocalProcessBackend inner, CancellationTokenSource cancel) : IClusterBackend
    {
        public IReadOnlyList<int> Started { get; private set; } = [];

        public string Name => inner.Name;

        public int DefaultWorkerCount => inner.DefaultWorkerCount;

        public decimal? Cost => inner.Cost;

        public async Task<IReadOnlyList<WorkerEndpoint>> StartWorkersAsync(WorkerLaunch launch, CancellationToken cancellationToken)
        {
            var endpoints = await inner.StartWorkersAsync(launch, cancellationToken);
            Started = inner.ProcessIds;
            await cancel.CancelAsync();
            return endpoints;
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
