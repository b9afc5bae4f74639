using Coiled.Remote.Scheduling;

namespace Coiled.Remote.Telemetry;

/// <summary>
/// Sends <see cref="ClusterProgress"/> while calls run: on the scheduler's changes, at most every
/// <see cref="Interval"/>, and once more when the last running call ends.
/// </summary>
internal sealed class ClusterProgressReporter(IProgress<ClusterProgress> progress, int workersRequested, TimeProvider time)
{
    internal static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);

    private readonly ReportThrottle _throttle = new(time, Interval);
    private readonly object _lock = new();

    /// <summary>The scheduler changed; <paramref name="idle"/> says no call is left, which is always reported.</summary>
    public void OnChanged(Scheduler scheduler, bool idle)
    {
        if (!idle && !_throttle.MayPass)
        {
            return;
        }

        lock (_lock)
        {
            if (!_throttle.TryPass(idle))
            {
                return;
            }

            var (queued, running) = scheduler.Counts();
            progress.Report(new ClusterProgress(
                "running", scheduler.WorkerCount, workersRequested, queued, running, scheduler.Metrics.TasksDone, scheduler.Metrics.TasksFailed));
        }
    }
}
