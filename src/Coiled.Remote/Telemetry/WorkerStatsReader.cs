using System.Diagnostics;
using Coiled.Remote.Transport.Protocol;
using Grpc.Core;

namespace Coiled.Remote.Telemetry;

/// <summary>The worker's side of the stats the client shows as per-worker CPU and memory metrics.</summary>
internal static class WorkerStatsReader
{
    /// <summary>Shortest interval a client may ask for, so that a hostile client cannot make a worker spin.</summary>
    private const uint MinIntervalMilliseconds = 100;

    /// <summary>This process's CPU time and memory now.</summary>
    public static WorkerStats Read()
    {
        using var process = Process.GetCurrentProcess();
        return new WorkerStats
        {
            CpuSeconds = process.TotalProcessorTime.TotalSeconds,
            WorkingSetBytes = Environment.WorkingSet,
            GcHeapBytes = GC.GetTotalMemory(forceFullCollection: false),
        };
    }

    /// <summary>Sends <see cref="WorkerStats"/> every <paramref name="intervalMilliseconds"/> until <paramref name="stop"/> is cancelled.</summary>
    public static async Task SendAsync(IServerStreamWriter<WorkerStats> stream, uint intervalMilliseconds, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(Math.Max(MinIntervalMilliseconds, intervalMilliseconds)));
        try
        {
            await stream.WriteAsync(Read(), stop).ConfigureAwait(false);
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                await stream.WriteAsync(Read(), stop).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The stream ended.
        }
        catch (InvalidOperationException) when (stop.IsCancellationRequested)
        {
            // Writing after the call ended.
        }
    }
}
