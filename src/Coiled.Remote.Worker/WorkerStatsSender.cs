using System.Diagnostics;
using Coiled.Remote.Transport.Protocol;
using Grpc.Core;

namespace Coiled.Remote.Worker;

/// <summary>The worker's side of the stats the client shows as per-worker CPU and memory metrics.</summary>
internal static class WorkerStatsSender
{
    /// <summary>Shortest interval a client may ask for, so that a hostile client cannot make a worker spin.</summary>
    private const uint MinIntervalMilliseconds = 100;

    /// <summary>
    /// This process's CPU time, memory and time paused for garbage collection now, with those of its executor processes
    /// when it has some, and <paramref name="machineMemoryBytes"/>, the memory the machine makes available.
    /// </summary>
    public static WorkerStats Read(Func<(TimeSpan Cpu, long WorkingSet, TimeSpan GcPause)>? executors, long machineMemoryBytes)
    {
        using var process = Process.GetCurrentProcess();
        var (cpu, workingSet, gcPause) = executors?.Invoke() ?? default;
        return new WorkerStats
        {
            CpuSeconds = (process.TotalProcessorTime + cpu).TotalSeconds,
            WorkingSetBytes = Environment.WorkingSet + workingSet,
            GcHeapBytes = GC.GetTotalMemory(forceFullCollection: false),
            MachineMemoryBytes = machineMemoryBytes,
            GcPauseSeconds = (GC.GetTotalPauseDuration() + gcPause).TotalSeconds,
        };
    }

    /// <summary>
    /// Sends <see cref="WorkerStats"/> every <paramref name="intervalMilliseconds"/> until <paramref name="stop"/> is
    /// cancelled, with the machine's <paramref name="notices"/> on each; a new notice goes out at once.
    /// </summary>
    /// <param name="stream">Where the reports go.</param>
    /// <param name="intervalMilliseconds">How often, at least every <see cref="MinIntervalMilliseconds"/>.</param>
    /// <param name="executors">The processor time, memory and GC pause time of the worker's executor processes, counted with its own; null when it has none.</param>
    /// <param name="machineMemoryBytes">The memory the machine makes available to the worker (which respects a container's limit).</param>
    /// <param name="notices">What the machine's cloud said about it.</param>
    /// <param name="stop">Ends the reports.</param>
    public static async Task SendAsync(
        IServerStreamWriter<WorkerStats> stream, uint intervalMilliseconds, Func<(TimeSpan Cpu, long WorkingSet, TimeSpan GcPause)>? executors, long machineMemoryBytes,
        Cloud.MachineNotices notices, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(Math.Max(MinIntervalMilliseconds, intervalMilliseconds)));
        try
        {
            var noticed = notices.Changed;
            await stream.WriteAsync(notices.AddTo(Read(executors, machineMemoryBytes)), stop).ConfigureAwait(false);
            var tick = timer.WaitForNextTickAsync(stop).AsTask();
            while (true)
            {
                await Task.WhenAny(tick, noticed).ConfigureAwait(false);
                if (tick.IsCompleted)
                {
                    if (!await tick.ConfigureAwait(false))
                    {
                        return;
                    }

                    tick = timer.WaitForNextTickAsync(stop).AsTask();
                }

                noticed = notices.Changed;
                await stream.WriteAsync(notices.AddTo(Read(executors, machineMemoryBytes)), stop).ConfigureAwait(false);
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
