using Coiled.Remote.Transport.Protocol;
using Grpc.Core;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// Reads a worker's heartbeats (its CPU and memory reports, on a call of their own) and tells when they stopped for
/// longer than the worker timeout: a cut network or a frozen machine shows no error to the sender. Time this process
/// itself spent stalled or behind on its thread pool (<see cref="StallMonitor"/>) does not count as the worker's
/// silence, since heartbeats that arrived meanwhile may still wait unread.
/// </summary>
internal sealed class HeartbeatMonitor
{
    /// <summary>How often the worker reports its CPU and memory; the reports double as heartbeats.</summary>
    public const uint IntervalMilliseconds = 500;

    /// <summary>How often silence is checked: twice per heartbeat.</summary>
    public static readonly TimeSpan CheckPeriod = TimeSpan.FromMilliseconds(IntervalMilliseconds / 2);

    /// <summary>A silence check that ran this late means this process itself was stalled (a pause, a frozen machine).</summary>
    private static readonly TimeSpan StalledCheck = TimeSpan.FromSeconds(1);

    private readonly TimeSpan _workerTimeout;
    private readonly TimeProvider _time;
    private readonly StallMonitor? _stalls;
    private long _lastHeard;
    private long _lastCheck;
    private WorkerStats? _stats;

    /// <param name="workerTimeout">Silence after which the worker is lost; <see cref="Timeout.InfiniteTimeSpan"/> for never.</param>
    /// <param name="time">The clock heartbeats and checks are timed on.</param>
    /// <param name="stalls">What tells when this process was stalled, on <paramref name="time"/>'s timestamps; null for nothing.</param>
    public HeartbeatMonitor(TimeSpan workerTimeout, TimeProvider time, StallMonitor? stalls)
    {
        _workerTimeout = workerTimeout;
        _time = time;
        _stalls = stalls;
        Restart();
    }

    /// <summary>The worker's latest CPU and memory report; null until the first arrives.</summary>
    public WorkerStats? Stats => Volatile.Read(ref _stats);

    /// <summary>Counts silence from now.</summary>
    public void Restart()
    {
        var now = _time.GetTimestamp();
        Volatile.Write(ref _lastHeard, now);
        _lastCheck = now;
    }

    /// <summary>A heartbeat arrived.</summary>
    public void Heard(WorkerStats stats)
    {
        Volatile.Write(ref _lastHeard, _time.GetTimestamp());
        Volatile.Write(ref _stats, stats);
    }

    /// <summary>
    /// One check at <paramref name="now"/> (a timestamp of the monitor's clock): how long the worker has been silent, when
    /// that is longer than the worker timeout; else null. A check that ran late moves the last heartbeat forward by the
    /// delay instead, since this process, not the worker, was held up.
    /// </summary>
    public TimeSpan? Check(long now)
    {
        var late = _time.GetElapsedTime(_lastCheck, now) - CheckPeriod;
        _lastCheck = now;
        if (late > StalledCheck)
        {
            // Let the reader catch up with heartbeats that arrived meanwhile.
            var heard = Volatile.Read(ref _lastHeard);
            Interlocked.CompareExchange(ref _lastHeard, Math.Min(now, heard + (long)(late.TotalSeconds * _time.TimestampFrequency)), heard);
            return null;
        }

        // Silence counts only from the last moment this process was seen keeping up.
        var silent = _time.GetElapsedTime(Math.Max(Volatile.Read(ref _lastHeard), _stalls?.LastStalled ?? 0), now);
        return _workerTimeout != Timeout.InfiniteTimeSpan && silent > _workerTimeout ? silent : null;
    }

    /// <summary>
    /// Reads <paramref name="watch"/>'s heartbeats and checks for silence until <paramref name="stop"/>, or until the worker
    /// went silent while <paramref name="watched"/> said it should talk, which is handed to <paramref name="silent"/>. A
    /// heartbeat that carries a notice about the worker's machine (<see cref="WorkerStats.Interruption"/>,
    /// <see cref="WorkerStats.Rebalance"/>) is handed to <paramref name="noticed"/> as soon as it is read; every
    /// heartbeat is handed to <paramref name="heard"/> first.
    /// </summary>
    public async Task WatchAsync(
        AsyncServerStreamingCall<WorkerStats> watch, Func<bool> watched, Func<TimeSpan, Task> silent, Func<WorkerStats, Task> noticed, Action<WorkerStats> heard,
        CancellationToken stop)
    {
        var reading = ReadAsync(watch.ResponseStream, noticed, heard, stop);
        using var timer = new PeriodicTimer(CheckPeriod, _time);
        _lastCheck = _time.GetTimestamp();
        try
        {
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                if (Check(_time.GetTimestamp()) is { } silence && watched())
                {
                    await silent(silence).ConfigureAwait(false);
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Disposed.
        }
        finally
        {
            watch.Dispose();
            await reading.ConfigureAwait(false);
        }
    }

    private async Task ReadAsync(IAsyncStreamReader<WorkerStats> heartbeats, Func<WorkerStats, Task> noticed, Action<WorkerStats> heard, CancellationToken stop)
    {
        try
        {
            while (await heartbeats.MoveNext(stop).ConfigureAwait(false))
            {
                var stats = heartbeats.Current;
                Heard(stats);
                heard(stats);
                if (stats.Interruption is not null || stats.Rebalance is not null)
                {
                    await noticed(stats).ConfigureAwait(false);
                }
            }
        }
        catch (Exception)
        {
            // A broken heartbeat call shows as silence, and the task stream reports its own error.
        }
    }
}
