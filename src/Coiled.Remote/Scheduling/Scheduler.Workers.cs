using Coiled.Remote.Sharing;

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
            _workers.Add(worker, new WorkerTasks(worker, new WorkerSharedValues(_shared, _sharedValueBytes)));
            worker.State = WorkerState.Ready;
        }

        worker.Wake();
    }

    /// <summary>A worker is gone: its in-flight items go back to the queue, or fail if they killed too many workers.</summary>
    public async Task OnWorkerLostAsync(ITaskWorker worker, Exception? error)
    {
        lock (_gate)
        {
            if (worker.State is WorkerState.Lost or WorkerState.Stopped || _closed)
            {
                return;
            }

            worker.State = WorkerState.Lost;
        }

        worker.MarkEnded();
        var how = await worker.DescribeLossAsync(error).ConfigureAwait(false);
        List<(PendingTask Task, WorkerLostException Error)> poisoned;
        List<Job>? orphans = null;
        lock (_gate)
        {
            _workers.Remove(worker, out var tasks);
            _logger.WorkerLost(worker.Id, worker.Address, how, tasks?.InFlight.Count ?? 0);
            poisoned = tasks is null ? [] : _poison.Requeue(tasks, how);
            if (_workers.Count == 0 && _workerLost is null)
            {
                _withoutWorkers = $"every worker is gone (the last, {worker.Id}, ended: {how}).";
                orphans = [.. _jobs.Values];
            }
        }

        _poison.Fail(worker, poisoned);
        foreach (var job in orphans ?? [])
        {
            job.Fail(TaskFailures.EveryWorkerGone(job, worker.Id, how));
        }

        WakeAll();
        if (_workerLost is { } handler)
        {
            await handler(worker, how).ConfigureAwait(false);
        }
    }

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
            if (placed is null || worker.State is WorkerState.Lost or WorkerState.Stopped || _closed)
            {
                return false;
            }

            worker.State = WorkerState.Starting;
            _logger.ExecutorLost(worker.Id, worker.Address, how, tasks);
            poisoned = _poison.Requeue(placed, how);
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
