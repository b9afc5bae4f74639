namespace Coiled.Remote.Scheduling;

/// <summary>How busy the scheduler's workers are, and what their own reports say about their memory and garbage collection.</summary>
internal sealed partial class Scheduler
{
    /// <summary>The busy clock of every worker the scheduler ever took, gone ones included.</summary>
    private readonly List<BusyClock> _busyClocks = [];

    /// <summary>One worker that holds no task: since when (a timestamp of the scheduler's clock).</summary>
    public readonly record struct IdleWorker(ITaskWorker Worker, long IdleSince);

    /// <summary>Seconds every worker the scheduler took held at least one task, added up (<see cref="ClusterSummary.BusyWorkerSeconds"/>).</summary>
    public double BusyWorkerSeconds()
    {
        var now = _time.GetTimestamp();
        lock (_gate)
        {
            return _busyClocks.Sum(c => c.Busy(now).TotalSeconds);
        }
    }

    /// <summary>
    /// The ready workers that hold no task now, with since when, while no call runs (the cluster is only kept); and how
    /// many ready workers there are. A worker with nothing to do while a call's last tasks run elsewhere is not idle in
    /// this sense: the call still needs the cluster.
    /// </summary>
    public (IReadOnlyList<IdleWorker> Idle, int Ready) IdleWorkers()
    {
        lock (_gate)
        {
            var idle = new List<IdleWorker>();
            if (_jobs.Count > 0)
            {
                return (idle, _workers.Keys.Count(w => w.State == WorkerState.Ready));
            }

            var ready = 0;
            foreach (var (worker, tasks) in _workers)
            {
                if (worker.State != WorkerState.Ready)
                {
                    continue;
                }

                ready++;
                if (tasks.Busy.IdleSince is { } since)
                {
                    idle.Add(new IdleWorker(worker, Math.Max(since, _lastCallEnded)));
                }
            }

            return (idle, ready);
        }
    }

    /// <summary>A worker's memory passed <see cref="WorkerPressure.MemoryShare"/> of its machine's: logged and counted, once per episode.</summary>
    public void OnMemoryHigh(ITaskWorker worker, long workingSetBytes, long machineBytes)
    {
        Metrics.MemoryWarned(worker);
        _logger.WorkerMemoryHigh(worker.Id, worker.Address, workingSetBytes / (1024.0 * 1024), machineBytes / (1024.0 * 1024), 100.0 * workingSetBytes / machineBytes);
    }

    /// <summary>A worker spent more than <see cref="WorkerPressure.ThrashingShare"/> of its time in garbage collection: logged and counted, once per episode.</summary>
    public void OnThrashing(ITaskWorker worker, double share)
    {
        Metrics.ThrashingWarned(worker);
        _logger.WorkerThrashing(worker.Id, worker.Address, 100 * share, WorkerPressure.Window.TotalSeconds);
    }
}
