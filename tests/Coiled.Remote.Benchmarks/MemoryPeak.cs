namespace Coiled.Remote.Benchmarks;

/// <summary>
/// Samples this process's managed heap and resident set every 10 ms from an aggressive full collection on, and keeps the peaks:
/// how much a call made the caller grow.
/// </summary>
internal sealed class MemoryPeak : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _sampler;
    private long _peakManaged;
    private double _peakRss;

    private MemoryPeak()
    {
        // An aggressive collection also gives free heap memory back to the system, so that what an earlier call grew
        // does not hide what this one grows.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        BaselineManaged = GC.GetTotalMemory(false);
        BaselineRss = Rss.MiB(Environment.ProcessId);
        _peakManaged = BaselineManaged;
        _peakRss = BaselineRss;
        _sampler = Task.Run(SampleAsync);
    }

    /// <summary>The managed heap after a full collection, before the call, in bytes.</summary>
    public long BaselineManaged { get; }

    /// <summary>The resident set before the call, in MiB.</summary>
    public double BaselineRss { get; }

    /// <summary>The largest managed heap seen, in MiB.</summary>
    public double PeakManagedMiB => Interlocked.Read(ref _peakManaged) / 1048576.0;

    /// <summary>The largest resident set seen, in MiB.</summary>
    public double PeakRss => Volatile.Read(ref _peakRss);

    /// <summary>How much the resident set grew above the baseline at its peak, in MiB.</summary>
    public double GrowthMiB => PeakRss - BaselineRss;

    /// <summary>Collects, takes the baseline and starts sampling.</summary>
    public static MemoryPeak Start() => new();

    /// <summary>Stops sampling; the peaks stay readable.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _sampler;
        Sample();
        _stop.Dispose();
    }

    private async Task SampleAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Sample();
            try
            {
                await Task.Delay(10, _stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    private void Sample()
    {
        var managed = GC.GetTotalMemory(false);
        if (managed > Interlocked.Read(ref _peakManaged))
        {
            Interlocked.Exchange(ref _peakManaged, managed);
        }

        var rss = Rss.MiB(Environment.ProcessId);
        if (rss > Volatile.Read(ref _peakRss))
        {
            Volatile.Write(ref _peakRss, rss);
        }
    }
}
