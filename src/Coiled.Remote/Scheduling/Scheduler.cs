using Coiled.Remote.Sharing;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// Decides which worker runs which item. Every item is in exactly one place: queued in its job, waiting for a
/// retry, in flight on one worker, or done. Workers pull batches as their credit window allows; a lost worker's
/// items go back to the front of the queue; an item that killed <see cref="ClusterOptions.MaxWorkerDeaths"/>
/// workers fails alone. State changes under one lock, and calls out of the scheduler are made outside it.
/// </summary>
internal sealed partial class Scheduler
{
    private readonly object _gate = new();
    private readonly Dictionary<ITaskWorker, WorkerTasks> _workers = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<uint, Job> _jobs = [];

    /// <summary>When the last call ended (no call runs since); idle time counts from no earlier.</summary>
    private long _lastCallEnded;
    private readonly TaskQueue _queue = new();
    private readonly ResultHandler _results;
    private readonly PoisonIsolation _poison;
    private readonly ILogger _logger;
    private readonly Func<ITaskWorker, string, Task>? _workerLost;
    private readonly Action<ITaskWorker, string>? _workerEnded;
    private readonly Action<Scheduler, bool>? _changed;
    private readonly Dashboard.DashboardRecorder? _dashboard;
    private readonly SharedValueTable _shared = new();
    private readonly long _sharedValueBytes;
    private readonly TimeProvider _time;
    private uint _nextJobId;
    private bool _closed;
    private string? _withoutWorkers;

    /// <param name="maxWorkerDeaths">Deaths after which a task fails (<see cref="ClusterOptions.MaxWorkerDeaths"/>).</param>
    /// <param name="clusterId">The cluster's id, tagged on the scheduler's measurements.</param>
    /// <param name="time">The clock retries wait on, and workers' busy and idle time is measured on.</param>
    /// <param name="logger">Where the scheduler logs.</param>
    /// <param name="workerLost">
    /// Told after a worker was lost and its tasks requeued, with how it ended. The cluster uses it to start a
    /// replacement; without one, losing the last worker fails every job.
    /// </param>
    /// <param name="workerEnded">
    /// Told after a worker was lost or interrupted and its tasks requeued, with how it ended, before
    /// <paramref name="workerLost"/>: the cluster has its backend stop the machine.
    /// </param>
    /// <param name="changed">
    /// Told after results arrived or a job was submitted or ended, with whether no job is left (cluster-wide
    /// progress). Null unless someone asked for progress, so that it costs nothing otherwise.
    /// </param>
    /// <param name="sharedValueBytes">Most bytes of shared argument values each worker holds.</param>
    /// <param name="staging">Storage every worker reads, through which large shared values go (see <see cref="ShareStaging"/>); null for none.</param>
    /// <param name="dashboard">Told of calls and of each result batch for the dashboard; null when it is off, so that it costs nothing then.</param>
    public Scheduler(
        int maxWorkerDeaths, string clusterId, TimeProvider time, ILogger logger,
        Func<ITaskWorker, string, Task>? workerLost = null, Action<Scheduler, bool>? changed = null,
        long sharedValueBytes = WireLimits.MaxSharedValueBytes, Synchronization.IBlobStaging? staging = null,
        Action<ITaskWorker, string>? workerEnded = null, Dashboard.DashboardRecorder? dashboard = null)
    {
        _dashboard = dashboard;
        _logger = logger;
        _time = time;
        _workerEnded = workerEnded;
        Staging = staging;
        _workerLost = workerLost;
        _changed = changed;
        _sharedValueBytes = Math.Clamp(sharedValueBytes, 1, WireLimits.MaxSharedValueBytes);
        Metrics = new SchedulerMetrics(clusterId);
        _results = new ResultHandler(new RetryTimer(time, OnRetryDue), Metrics, logger);
        _poison = new PoisonIsolation(maxWorkerDeaths, _queue, Metrics, logger);
    }

    public SchedulerMetrics Metrics { get; }

    /// <summary>Storage every worker reads, through which large shared values go; null when they go over each worker's connection.</summary>
    public Synchronization.IBlobStaging? Staging { get; }

    /// <summary>A shared value could not go to <paramref name="worker"/> through <see cref="Staging"/> and goes over its connection instead.</summary>
    public void OnShareNotStaged(ITaskWorker worker, ShareValue share, Exception error)
        => _logger.SharedValueNotStaged(error, Convert.ToHexStringLower(share.Sha256.Span), share.Value.Length, worker.Id, error.GetBaseException().Message);

    /// <summary>Most bytes of shared argument values each worker holds.</summary>
    public long SharedValueBytes => _sharedValueBytes;

    /// <summary>Tasks in flight on each worker the scheduler holds, by worker id.</summary>
    public Dictionary<string, int> InFlightByWorker()
    {
        lock (_gate)
        {
            return _workers.ToDictionary(w => w.Key.Id, w => w.Value.InFlight.Count, StringComparer.Ordinal);
        }
    }

    public (long Queued, long Running) Counts()
    {
        lock (_gate)
        {
            return (_queue.Count, _workers.Values.Sum(w => (long)w.InFlight.Count));
        }
    }

    /// <summary>Accepts a job with its first chunks of items.</summary>
    public void Submit(Job job, IEnumerable<ArgumentChunk> chunks)
    {
        lock (_gate)
        {
            if (_closed)
            {
                throw new ObjectDisposedException(nameof(Cluster), "The cluster was disposed; start a new one.");
            }

            if (_workers.Count == 0 && _withoutWorkers is not null)
            {
                throw TaskFailures.NoWorkersToStart(job, _withoutWorkers);
            }

            if (job.IsFinished)
            {
                return;
            }

            if (Withdrawn(job, chunks) is { } withdrawn)
            {
                throw withdrawn;
            }

            job.Id = ++_nextJobId;
            job.Finished = OnJobFinished;
            _jobs.Add(job.Id, job);
            _dashboard?.CallStarted(job);
            foreach (var chunk in chunks)
            {
                AddChunk(job, chunk);
            }

            _queue.Enqueue(job);
        }

        WakeAll();
        _changed?.Invoke(this, false);
    }

    /// <summary>Adds items to a running job (streams).</summary>
    public void Enqueue(Job job, ArgumentChunk chunk)
    {
        ArgumentException? withdrawn;
        lock (_gate)
        {
            if (job.IsFinished)
            {
                return;
            }

            withdrawn = Withdrawn(job, [chunk]);
            if (withdrawn is null)
            {
                AddChunk(job, chunk);
                _queue.Enqueue(job);
            }
        }

        if (withdrawn is not null)
        {
            job.Fail(withdrawn);
            return;
        }

        WakeAll();
    }

    /// <summary>Queues a chunk of a job's items, with the shared values they refer to counted as the job's (scheduler lock).</summary>
    private void AddChunk(Job job, ArgumentChunk chunk)
    {
        chunk.Shares?.Intern(_shared, job.Shares);
        job.AddChunk(chunk);
    }

    /// <summary>The next message for a worker's stream: cancels first, then a batch its credit allows; null when there is nothing.</summary>
    public OutgoingRequest? TakeRequest(ITaskWorker worker)
    {
        lock (_gate)
        {
            if (!_workers.TryGetValue(worker, out var tasks))
            {
                return null;
            }

            if (tasks.TakeCancels() is { } cancels)
            {
                var cancel = new CancelTasks();
                cancel.TaskIds.AddRange(cancels);
                return new OutgoingRequest(new RunRequest { Cancel = cancel });
            }

            if (tasks.TakeReturns() is { } returns)
            {
                var giveBack = new ReturnTasks();
                giveBack.TaskIds.AddRange(returns);
                return new OutgoingRequest(new RunRequest { ReturnTasks = giveBack });
            }

            if (TakeReleases(tasks) is { } releases)
            {
                return releases;
            }

            if (worker.State != WorkerState.Ready || tasks.Isolating is not null
                || _queue.TakeFor(tasks, _workers.Count, out var lease, out var replacedBytes) is not { } batch)
            {
                return null;
            }

            Metrics.ArgumentsSent(batch.Arguments.Length);
            var before = SharedTransfers(tasks.Shared, replacedBytes);
            return new OutgoingRequest(new RunRequest { Tasks = batch }, lease, before);
        }
    }

    /// <summary>
    /// The requests that go before a batch: the shared values the worker is told to drop, then those it is sent; null
    /// for none. Counts what the batch's references saved; the sender counts the values' bytes as it sends them
    /// (scheduler lock).
    /// </summary>
    private OutgoingRequest[]? SharedTransfers(WorkerSharedValues worker, long replacedBytes)
    {
        var (drop, send) = worker.TakeTransfers();
        long sent = 0;
        List<OutgoingRequest>? requests = null;
        if (drop is not null)
        {
            var release = new ReleaseValues();
            release.Sha256.AddRange(drop.Select(hash => hash.ToByteString()));
            (requests ??= []).Add(new OutgoingRequest(new RunRequest { Release = release }));
        }

        foreach (var (hash, bytes, size) in send ?? [])
        {
            var share = new ShareValue { Sha256 = hash.ToByteString(), Value = Google.Protobuf.UnsafeByteOperations.UnsafeWrap(bytes.Array.AsMemory(0, size)) };
            (requests ??= []).Add(new OutgoingRequest(new RunRequest { Share = share }, bytes));
            sent += size;
        }

        if (replacedBytes > 0 || requests is not null)
        {
            Metrics.SharedValuesMoved(send?.Count ?? 0, drop?.Count ?? 0, worker.Bytes, replacedBytes - sent);
        }

        return requests?.ToArray();
    }

    /// <summary>A worker's results arrived: hand each to its job, retry failures the method's Retries allow.</summary>
    public void OnResults(ITaskWorker worker, ResultBatch batch)
    {
        CompletedBatch completed;
        List<ITaskWorker>? toWake = null;
        lock (_gate)
        {
            var tasks = _workers.GetValueOrDefault(worker);
            completed = _results.Complete(tasks, worker.Id, batch);
            ItemsEnded(completed, batch.TaskIds.Count, ref toWake);
            if (completed.Returned is { } returned)
            {
                OnReturned(returned);
            }

            if (tasks is not null)
            {
                FinishRetirementIfDone(worker, tasks);
            }
        }

        foreach (var other in toWake ?? [])
        {
            other.Wake();
        }

        worker.Wake();
        _dashboard?.OnBatch(worker, batch, completed);
        _results.Deliver(worker, batch, completed);
        _changed?.Invoke(this, false);
    }

    /// <summary>Ends every job and stops taking new ones.</summary>
    public void Close(Exception reason)
    {
        List<Job> jobs;
        lock (_gate)
        {
            _closed = true;
            jobs = [.. _jobs.Values];
            foreach (var worker in _workers.Keys)
            {
                worker.State = WorkerState.Stopped;
            }

            // Retirements end with the cluster: its workers stop anyway.
            foreach (var retiring in _retiring.Keys.ToList())
            {
                EndRetirement(retiring);
            }
        }

        foreach (var job in jobs)
        {
            job.Fail(reason);
        }
    }

    private void OnJobFinished(Job job)
    {
        List<ITaskWorker>? toWake = null;
        bool idle;
        lock (_gate)
        {
            _jobs.Remove(job.Id);
            idle = _jobs.Count == 0;
            if (idle)
            {
                _lastCallEnded = _time.GetTimestamp();
            }

            // A job that ended because every item ended has nothing left anywhere; only one that ended early
            // (failure, cancellation) needs its leftovers found, which scans every worker's tasks in flight.
            _queue.Remove(job, early: !job.EndedWithEveryItem);
            if (!job.EndedWithEveryItem)
            {
                foreach (var tasks in _workers.Values)
                {
                    // The workers stop the job's items they still run; their results, if any, are dropped on arrival.
                    if (tasks.Cancel(job))
                    {
                        (toWake ??= []).Add(tasks.Worker);
                    }
                }
            }

            // Nothing of the job can be sent again (retries and suspects copy their arguments under this lock).
            job.ReleaseBuffers();
            foreach (var value in job.TakeSharedValues())
            {
                EndShare(value, ref toWake);
            }
        }

        _dashboard?.CallEnded(job);

        foreach (var worker in toWake ?? [])
        {
            worker.Wake();
        }

        _changed?.Invoke(this, idle);
    }

    /// <summary>A task's retry backoff ended: it goes out again, unless its call ended meanwhile.</summary>
    private void OnRetryDue(PendingTask task)
    {
        lock (_gate)
        {
            if (task.Job.IsFinished || _closed)
            {
                return;
            }

            _queue.AddRetry(task);
        }

        WakeAll();
    }
}
