using Coiled.Remote.Transport.Protocol;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// Retiring workers (the cluster scales down): a retiring worker takes no new tasks, gives back those it has not
/// started (they go to the front of the queue, unrun, with nothing counted against them), and finishes those it runs;
/// once none is left it leaves the scheduler. No task runs twice and none is lost.
/// </summary>
internal sealed partial class Scheduler
{
    private readonly Dictionary<ITaskWorker, TaskCompletionSource> _retiring = new(ReferenceEqualityComparer.Instance);

    /// <summary>Tasks in flight on <paramref name="worker"/> now; -1 when it is not the scheduler's.</summary>
    public int InFlightOn(ITaskWorker worker)
    {
        lock (_gate)
        {
            return _workers.TryGetValue(worker, out var tasks) ? tasks.InFlight.Count : -1;
        }
    }

    /// <summary>
    /// Retires <paramref name="worker"/>; completes once it has no task left and has left the scheduler (state
    /// <see cref="WorkerState.Retired"/>), or at once when it is not a ready worker of the scheduler. A worker lost or
    /// interrupted meanwhile completes it too (its tasks went back to the queue), and is not replaced.
    /// </summary>
    public Task RetireAsync(ITaskWorker worker)
    {
        Task retired;
        lock (_gate)
        {
            if (_retiring.TryGetValue(worker, out var already))
            {
                return already.Task;
            }

            if (_closed || worker.State is not (WorkerState.Ready or WorkerState.Starting) || !_workers.TryGetValue(worker, out var tasks))
            {
                return Task.CompletedTask;
            }

            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _retiring.Add(worker, done);
            worker.State = WorkerState.Retiring;
            tasks.ReturnUnstarted();
            retired = done.Task;
            FinishRetirementIfDone(worker, tasks);
        }

        worker.Wake();
        return retired;
    }

    /// <summary>Tasks the worker gave back unrun: to the front of the queue, as they were (scheduler lock).</summary>
    private void OnReturned(List<PendingTask> returned)
    {
        var requeued = _queue.Return(returned);
        Metrics.Requeued(requeued);
        if (requeued > 0)
        {
            WakeAll();
        }
    }

    /// <summary>A retiring worker with nothing left in flight leaves the scheduler (scheduler lock).</summary>
    private void FinishRetirementIfDone(ITaskWorker worker, WorkerTasks tasks)
    {
        if (worker.State != WorkerState.Retiring || tasks.InFlight.Count > 0)
        {
            return;
        }

        _workers.Remove(worker);
        tasks.Clear();
        worker.State = WorkerState.Retired;
        _logger.WorkerRetired(worker.Id, worker.Address);
        EndRetirement(worker);
    }

    /// <summary>
    /// After a worker left: when only retiring workers are left, one of them stays (back to ready) so that the cluster's
    /// queued tasks have somewhere to run; its retirement ends, unfinished (scheduler lock).
    /// </summary>
    private void KeepOneWorker()
    {
        if (_retiring.Count == 0 || _workers.Keys.Any(w => w.State != WorkerState.Retiring))
        {
            return;
        }

        var kept = _workers.Keys.First(w => w.State == WorkerState.Retiring);
        kept.State = WorkerState.Ready;
        _logger.RetirementCancelled(kept.Id, kept.Address);
        EndRetirement(kept);
        kept.Wake();
    }

    /// <summary>Completes the worker's retirement, if it was retiring; true when it was (scheduler lock).</summary>
    private bool EndRetirement(ITaskWorker worker)
    {
        if (!_retiring.Remove(worker, out var done))
        {
            return false;
        }

        done.TrySetResult();
        return true;
    }
}
