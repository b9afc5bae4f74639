using Coiled.Remote.Sharing;
using Coiled.Remote.Transport.Protocol;

namespace Coiled.Remote.Scheduling;

/// <summary>The scheduler's workers: how they join, and what happens to their tasks when they or their executors are lost.</summary>
internal sealed partial class Scheduler
{
    public int WorkerCount
    {
        get
        {
            lock (_gate)
            {
                return _workers.Count;
            }
        }
    }

    /// <summary>Task slots of the connected workers together, now.</summary>
    public int TotalSlots
    {
        get
        {
            lock (_gate)
            {
                return _workers.Keys.Sum(worker => worker.Slots);
            }
        }
    }

    /// <summary>Takes a connected worker, ready to run tasks; its send loop then asks <see cref="TakeRequest"/>.</summary>
    public void AddWorker(ITaskWorker worker)
    {
        lock (_gate)
        {
            var busy = new BusyClock(_time);
            _busyClocks.Add(busy);
            _workers.Add(worker, new WorkerTasks(worker, new WorkerSharedValues(_shared, _sharedValueBytes), busy));
            worker.State = WorkerState.Ready;
        }

        worker.Wake();
    }

    /// <summary>A worker is gone: its in-flight items go back to the queue, or fail if they killed too many workers.</summary>
    public async Task OnWorkerLostAsync(ITaskWorker worker, Exception? error)
    {
        bool retiring;
        lock (_gate)
        {
            if (worker.State is WorkerState.Lost or WorkerState.Stopped or WorkerState.Interrupted or WorkerState.Retired || _closed)
            {
                return;
            }

            retiring = worker.State == WorkerState.Retiring;
            worker.State = WorkerState.Lost;
        }

        worker.MarkEnded();
        var how = await worker.DescribeLossAsync(error).ConfigureAwait(false);
        List<(PendingTask Task, WorkerLostException Error)> poisoned;
        List<Job>? orphans;
        lock (_gate)
        {
            _workers.Remove(worker, out var tasks);
            _logger.WorkerLost(worker.Id, worker.Address, how, tasks?.InFlight.Count ?? 0);
            poisoned = tasks is null ? [] : _poison.Requeue(tasks, how);
            orphans = OrphanedBy(worker, how);
            EndRetirement(worker);
        }

        // A worker lost while it retired is not replaced: the cluster was giving it up.
        await OnWorkerGoneAsync(worker, how, poisoned, orphans, replace: !retiring).ConfigureAwait(false);
    }

    /// <summary>
    /// A worker's machine is being reclaimed by its cloud (<paramref name="notice"/>, a spot interruption notice): it
    /// gets nothing more, and its in-flight items go back to the front of the queue at once, with no death counted
    /// against them (the machine was taken away; no task killed it). Then, as for a lost worker, a replacement is asked for.
    /// </summary>
    public async Task OnWorkerInterruptedAsync(ITaskWorker worker, MachineNotice notice)
    {
        var how = $"its cloud reclaims its machine, {notice.Action} at {notice.TimeText}";
        List<Job>? orphans;
        bool retiring;
        lock (_gate)
        {
            if (worker.State is WorkerState.Lost or WorkerState.Stopped or WorkerState.Interrupted or WorkerState.Retired || _closed)
            {
                return;
            }

            worker.State = WorkerState.Interrupted;
            _workers.Remove(worker, out var tasks);
            var requeued = tasks is null ? 0 : _queue.Return(tasks);
            Metrics.Requeued(requeued);
            _logger.WorkerInterrupted(worker.Id, worker.Address, notice.Action, notice.TimeText, requeued);
            orphans = OrphanedBy(worker, how);
            retiring = EndRetirement(worker);
        }

        worker.MarkEnded();
        await OnWorkerGoneAsync(worker, how, [], orphans, replace: !retiring).ConfigureAwait(false);
    }

    /// <summary>A worker's cloud recommends moving work off its machine (an EC2 rebalance recommendation): logged; the worker keeps its tasks.</summary>
    public void OnRebalanceRecommended(ITaskWorker worker, MachineNotice notice)
        => _logger.RebalanceRecommended(worker.Id, worker.Address, notice.TimeText);

    /// <summary>
    /// The executor process that ran a worker's tasks died, the worker itself is fine: its in-flight items count the death,
    /// as when a worker dies, and go back to the queue or fail; the worker gets nothing until <see cref="OnExecutorReplaced"/>.
    /// </summary>
    /// <param name="worker">The worker whose task stream ended.</param>
    /// <param name="how">How the executor ended.</param>
    /// <param name="tasks">How many tasks the worker had in flight then.</param>
    /// <returns>False when the worker is no longer the scheduler's (lost, stopped, or the scheduler closed).</returns>
    public bool OnExecutorLost(ITaskWorker worker, string how, out int tasks)
    {
        List<(PendingTask Task, WorkerLostException Error)> poisoned;
        lock (_gate)
        {
            var placed = _workers.GetValueOrDefault(worker);
            tasks = placed?.InFlight.Count ?? 0;
            if (placed is null || worker.State is WorkerState.Lost or WorkerState.Stopped or WorkerState.Interrupted or WorkerState.Retired || _closed)
            {
                return false;
            }

            _logger.ExecutorLost(worker.Id, worker.Address, how, tasks);
            poisoned = _poison.Requeue(placed, how);
            if (worker.State == WorkerState.Retiring)
            {
                // Its tasks went back to the queue: nothing is left for it to finish.
                FinishRetirementIfDone(worker, placed);
            }
            else
            {
                worker.State = WorkerState.Starting;
            }
        }

        _poison.Fail(worker, poisoned);
        WakeAll();
        return true;
    }

    /// <summary>The worker opened a new task stream (a new executor) after <see cref="OnExecutorLost"/>: it takes tasks again.</summary>
    public void OnExecutorReplaced(ITaskWorker worker)
    {
        lock (_gate)
        {
            if (worker.State != WorkerState.Starting || !_workers.TryGetValue(worker, out var tasks))
            {
                return;
            }

            // The new stream may have other slots.
            tasks.ResetWindow();
            worker.State = WorkerState.Ready;
        }

        worker.Wake();
    }

    /// <summary>
    /// The cluster cannot get workers back (replacement failed or is off): if none is left, every job fails
    /// with <paramref name="why"/>.
    /// </summary>
    public void GiveUpIfNoWorkers(string why)
    {
        List<Job> jobs;
        lock (_gate)
        {
            if (_workers.Count > 0 || _closed)
            {
                return;
            }

            _withoutWorkers = why;
            jobs = [.. _jobs.Values];
        }

        _logger.NoWorkersLeft(why, jobs.Count);
        foreach (var job in jobs)
        {
            job.Fail(TaskFailures.NoWorkersToFinish(job, why));
        }
    }

    /// <summary>
    /// The jobs that fail because <paramref name="worker"/>, which ended <paramref name="how"/>, was the last and none
    /// comes back (no replacement is asked for); null when there are none (scheduler lock).
    /// </summary>
    private List<Job>? OrphanedBy(ITaskWorker worker, string how)
    {
        KeepOneWorker();
        if (_workers.Count > 0 || _workerLost is not null)
        {
            return null;
        }

        _withoutWorkers = $"every worker is gone (the last, {worker.Id}, ended: {how}).";
        return [.. _jobs.Values];
    }

    /// <summary>After a worker left the scheduler: fails what it poisoned and what it orphaned, wakes the others, and asks for a replacement.</summary>
    private async Task OnWorkerGoneAsync(
        ITaskWorker worker, string how, List<(PendingTask Task, WorkerLostException Error)> poisoned, List<Job>? orphans, bool replace = true)
    {
        _poison.Fail(worker, poisoned);
        foreach (var job in orphans ?? [])
        {
            job.Fail(TaskFailures.EveryWorkerGone(job, worker.Id, how));
        }

        WakeAll();
        _workerEnded?.Invoke(worker, how);
        if (replace && _workerLost is { } handler)
        {
            await handler(worker, how).ConfigureAwait(false);
        }
    }

    private void WakeAll()
    {
        lock (_gate)
        {
            foreach (var worker in _workers.Keys)
            {
                worker.Wake();
            }
        }
    }
}
