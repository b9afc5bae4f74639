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

    /// <summary>
    /// Sends <see cref="WorkerStats"/> every <paramref name="intervalMilliseconds"/> until <paramref name="stop"/> is cancelled.
    /// Writes go through <paramref name="writeGate"/>, which the result pump holds too: a gRPC stream takes one write at a time.
    /// </summary>
    public static async Task SendAsync(IServerStreamWriter<RunReply> stream, SemaphoreSlim writeGate, uint intervalMilliseconds, CancellationToken stop)
    {
        if (intervalMilliseconds == 0)
        {
            return;
        }

        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(Math.Max(MinIntervalMilliseconds, intervalMilliseconds)));
        try
        {
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                var reply = new RunReply { Stats = Read() };
                await writeGate.WaitAsync(stop).ConfigureAwait(false);
                try
                {
                    await stream.WriteAsync(reply, stop).ConfigureAwait(false);
                }
                finally
                {
                    writeGate.Release();
                }
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
