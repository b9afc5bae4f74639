using System.Buffers;
using Coiled.Remote.Telemetry;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Google.Protobuf;
using MessagePack;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// Decides which worker runs which item. Every item is in exactly one place: queued in its job, waiting for a
/// retry, in flight on one worker, or done. Workers pull batches as their credit window allows; a lost worker's
/// items go back to the front of the queue; an item that killed <see cref="ClusterOptions.MaxWorkerDeaths"/>
/// workers fails alone.
/// </summary>
internal sealed class Scheduler
{
    private readonly object _gate = new();
    private readonly List<WorkerConnection> _workers = [];
    private readonly LinkedList<Job> _queue = new();
    private readonly Dictionary<uint, Job> _jobs = [];
    private readonly LinkedList<PendingTask> _retries = new();

    /// <summary>
    /// Tasks that were in flight on a worker that died. Each runs alone on an otherwise idle worker, so that a task
    /// that kills its worker is identified and innocent neighbours do not accumulate deaths.
    /// </summary>
    private readonly LinkedList<PendingTask> _suspects = new();
    private readonly int _maxWorkerDeaths;
    private readonly ILogger _logger;
    private uint _nextJobId;
    private long _done;
    private long _failed;
    private long _retried;
    private long _requeued;
    private long _argumentBytes;
    private long _resultBytes;
    private KeyValuePair<string, object?> _clusterTag = new(RemoteTelemetry.ClusterTag, string.Empty);
    private bool _closed;
    private string? _withoutWorkers;

    public Scheduler(int maxWorkerDeaths, ILogger logger)
    {
        _maxWorkerDeaths = Math.Max(1, maxWorkerDeaths);
        _logger = logger;
    }

    /// <summary>
    /// Told after a worker was lost and its tasks requeued, with how it ended. The cluster uses it to start a
    /// replacement; without a handler, losing the last worker fails every job.
    /// </summary>
    public Func<WorkerConnection, string, Task>? WorkerLost { get; set; }

    /// <summary>Retries wait this long times 2^(attempt-1), at most <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(10);

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>The cluster's id, tagged on the scheduler's measurements.</summary>
    public string ClusterId
    {
        get => (string)_clusterTag.Value!;
        init => _clusterTag = new(RemoteTelemetry.ClusterTag, value);
    }

    /// <summary>
    /// Told after results arrived or a job was submitted or ended, with whether no job is left (cluster-wide
    /// progress). Null unless someone asked for progress, so that it costs nothing otherwise.
    /// </summary>
    public Action<bool>? Changed { get; set; }

    /// <summary>Bytes of task arguments sent to workers.</summary>
    public long ArgumentBytes => Interlocked.Read(ref _argumentBytes);

    /// <summary>Bytes of task results received from workers.</summary>
    public long ResultBytes => Interlocked.Read(ref _resultBytes);

    public long TasksDone => Interlocked.Read(ref _done);

    public long TasksRetried => Interlocked.Read(ref _retried);

    /// <summary>Tasks that were in flight on a worker that was lost and went back to the queue to run elsewhere.</summary>
    public long TasksRequeued => Interlocked.Read(ref _requeued);

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

    public long TasksFailed => Interlocked.Read(ref _failed);

    /// <summary>Task slots of the connected workers together, now.</summary>
    public int TotalSlots
    {
        get
        {
            lock (_gate)
            {
                return _workers.Sum(worker => worker.Slots);
            }
        }
    }

    public (long Queued, long Running) Counts()
    {
        lock (_gate)
        {
            long running = _workers.Sum(w => w.InFlight.Count);
            long queued = _retries.Count + _suspects.Count + _queue.Sum(j => j.QueuedItemCount);
            return (queued, running);
        }
    }

    public void AddWorker(WorkerConnection worker)
    {
        lock (_gate)
        {
            _workers.Add(worker);
        }

        worker.Start(this);
        worker.Signal.Set();
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
                throw new WorkerLostException(
                    $"The cluster has no workers left to run {job.Stub.DisplayName}: {_withoutWorkers} Start a new cluster.",
                    job.Stub.DisplayName, 0, []);
            }

            if (job.IsFinished)
            {
                return;
            }

            job.Id = ++_nextJobId;
            job.Finished = OnJobFinished;
            _jobs.Add(job.Id, job);
            foreach (var chunk in chunks)
            {
                job.AddChunk(chunk);
            }

            EnsureQueued(job);
        }

        SignalAll();
        Changed?.Invoke(false);
    }

    /// <summary>Adds items to a running job (streams).</summary>
    public void Enqueue(Job job, ArgumentChunk chunk)
    {
        lock (_gate)
        {
            if (job.IsFinished)
            {
                return;
            }

            job.AddChunk(chunk);
            EnsureQueued(job);
        }

        SignalAll();
    }

    /// <summary>The next message for a worker's stream: cancels first, then a batch its credit allows; null when there is nothing.</summary>
    public OutgoingRequest? TakeRequest(WorkerConnection worker)
    {
        lock (_gate)
        {
            if (worker.PendingCancels.Count > 0)
            {
                var cancel = new CancelTasks();
                cancel.TaskIds.AddRange(worker.PendingCancels);
                worker.PendingCancels.Clear();
                return new OutgoingRequest(new RunRequest { Cancel = cancel });
            }

            if (worker.State != WorkerState.Ready || worker.Isolating is not null)
            {
                return null;
            }

            if (worker.InFlight.Count == 0 && TakeSuspect(worker) is { } isolated)
            {
                return new OutgoingRequest(new RunRequest { Tasks = isolated });
            }

            var credit = Math.Min(worker.Credit, WireLimits.MaxTasksPerBatch);
            if (credit <= 0)
            {
                return null;
            }

            RentedBuffer? lease = null;
            var batch = TakeRetries(worker, credit) ?? TakeQueued(worker, credit, out lease);
            if (batch is null)
            {
                return null;
            }

            _argumentBytes += batch.Arguments.Length;
            RemoteTelemetry.ArgumentBytes.Add(batch.Arguments.Length, _clusterTag);
            return new OutgoingRequest(new RunRequest { Tasks = batch }, lease);
        }
    }

    /// <summary>A worker's results arrived: hand each to its job, retry failures the method's Retries allow.</summary>
    public void OnResults(WorkerConnection worker, ResultBatch batch)
    {
        var count = batch.TaskIds.Count;
        var owners = ArrayPool<PendingTask?>.Shared.Rent(count);
        List<(PendingTask Task, TaskFailure Failure)>? failures = null;
        List<(PendingTask Task, TaskFailure Failure)>? traced = null;
        var retried = 0;
        var delivered = 0;
        lock (_gate)
        {
            for (var i = 0; i < count; i++)
            {
                owners[i] = Complete(worker, batch.TaskIds[i], out var task) && !task.Job.IsFinished ? task : null;
                if (owners[i] is not null)
                {
                    delivered++;
                }
            }

            foreach (var failure in batch.Failures)
            {
                if (!Complete(worker, failure.TaskId, out var task) || task.Job.IsFinished)
                {
                    continue;
                }

                if (task.Job.Activity is not null)
                {
                    (traced ??= []).Add((task, failure));
                }

                if (failure.Kind == FailureKind.Exception && task.Attempt < task.Job.Stub.Retries)
                {
                    _logger.LogInformation(
                        "{Method} item {Index} threw {Type} on worker {WorkerId}; retry {Attempt} of {Retries}",
                        task.Job.Stub.DisplayName, task.Index, failure.ExceptionType, worker.Id, task.Attempt + 1, task.Job.Stub.Retries);
                    ScheduleRetry(task with { Attempt = task.Attempt + 1 });
                    retried++;
                }
                else
                {
                    (failures ??= []).Add((task, failure));
                }
            }

            worker.RecordExecution(batch.ExecutionNanoseconds, count + batch.Failures.Count);
        }

        // Only results that reach a live call count as done, like failures: a result that arrives after its call ended
        // (cancelled, or failed by another item) is dropped and counted nowhere, so the counts do not depend on timing.
        Interlocked.Add(ref _done, delivered);
        worker.Signal.Set();
        if (retried > 0)
        {
            Interlocked.Add(ref _retried, retried);
            RemoteTelemetry.TasksRetried.Add(retried, _clusterTag, worker.Tag);
        }

        Interlocked.Add(ref _resultBytes, batch.Results.Length);
        RemoteTelemetry.TasksDone.Add(delivered, _clusterTag, worker.Tag);
        RemoteTelemetry.ResultBytes.Add(batch.Results.Length, _clusterTag);
        RecordDurations(worker, batch.ExecutionNanoseconds, count + batch.Failures.Count);
        try
        {
            var reader = new MessagePackReader(batch.Results.Memory);
            for (var i = 0; i < count; i++)
            {
                var value = reader.CreatePeekReader();
                var before = reader.Consumed;
                reader.Skip();
                if (owners[i] is { } task)
                {
                    if (task.Job.Activity is { } parent)
                    {
                        RemoteTelemetry.TraceTask(parent, task.Job.Stub.DisplayName, worker.Id, task.Index, task.Attempt, task.SentAt, task.Arguments.Length, reader.Consumed - before, null);
                    }

                    task.Job.OnResult(task.Index, ref value);
                }
            }
        }
        catch (Exception ex) when (ex is MessagePackSerializationException or EndOfStreamException)
        {
            for (var i = 0; i < count; i++)
            {
                if (owners[i] is { } task)
                {
                    task.Job.OnFailure(task.Index, new RemoteException(
                        task.Job.Stub.DisplayName, ex.GetType().FullName!, $"Worker {worker.Id} sent results that are not valid MessagePack: {ex.Message}",
                        string.Empty, worker.Id, task.Index));
                }
            }
        }
        finally
        {
            ArrayPool<PendingTask?>.Shared.Return(owners, clearArray: true);
        }

        foreach (var (task, failure) in traced ?? [])
        {
            RemoteTelemetry.TraceTask(task.Job.Activity!, task.Job.Stub.DisplayName, worker.Id, task.Index, task.Attempt, task.SentAt, task.Arguments.Length, 0, failure);
        }

        if (failures is not null)
        {
            Interlocked.Add(ref _failed, failures.Count);
            RemoteTelemetry.TasksFailed.Add(failures.Count, _clusterTag, worker.Tag);
            foreach (var (task, failure) in failures)
            {
                task.Job.OnFailure(task.Index, ToException(failure, task, worker));
            }
        }

        Changed?.Invoke(false);
    }

    /// <summary>A worker is gone: its in-flight items go back to the queue, or fail if they killed too many workers.</summary>
    public async Task OnWorkerLostAsync(WorkerConnection worker, Exception? error)
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
            _workers.Remove(worker);
            _logger.LogWarning("Worker {WorkerId} at {Address} was lost: {How}; {Count} task(s) go back to the queue", worker.Id, worker.Endpoint.Address, how, worker.InFlight.Count);
            poisoned = RequeueInFlight(worker, how);
            if (_workers.Count == 0 && WorkerLost is null)
            {
                _withoutWorkers = $"every worker is gone (the last, {worker.Id}, ended: {how}).";
                orphans = [.. _jobs.Values];
            }
        }

        FailPoisoned(worker, poisoned);
        foreach (var job in orphans ?? [])
        {
            job.Fail(new WorkerLostException(
                $"Every worker of the cluster is gone (the last, {worker.Id}, ended: {how}); {job.Stub.DisplayName} cannot finish. Start a new cluster.",
                job.Stub.DisplayName, 0, [$"{worker.Id}: {how}"]));
        }

        SignalAll();
        if (WorkerLost is { } handler)
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
    public bool OnExecutorLost(WorkerConnection worker, string how, out int tasks)
    {
        List<(PendingTask Task, WorkerLostException Error)> poisoned;
        lock (_gate)
        {
            tasks = worker.InFlight.Count;
            if (worker.State is WorkerState.Lost or WorkerState.Stopped || _closed)
            {
                return false;
            }

            worker.State = WorkerState.Starting;
            _logger.LogWarning("Worker {WorkerId} at {Address}: {How}; {Count} task(s) go back to the queue", worker.Id, worker.Endpoint.Address, how, worker.InFlight.Count);
            poisoned = RequeueInFlight(worker, how);
        }

        FailPoisoned(worker, poisoned);
        SignalAll();
        return true;
    }

    /// <summary>The worker opened a new task stream (a new executor) after <see cref="OnExecutorLost"/>: it takes tasks again.</summary>
    public void OnExecutorReplaced(WorkerConnection worker)
    {
        lock (_gate)
        {
            if (worker.State != WorkerState.Starting)
            {
                return;
            }

            worker.State = WorkerState.Ready;
        }

        worker.Signal.Set();
    }

    /// <summary>
    /// Puts a worker's in-flight items back in the queue, each to run alone next, with the death it just saw; the items
    /// that reach <see cref="ClusterOptions.MaxWorkerDeaths"/> are returned instead, to fail (scheduler lock).
    /// </summary>
    private List<(PendingTask Task, WorkerLostException Error)> RequeueInFlight(WorkerConnection worker, string how)
    {
        var poisoned = new List<(PendingTask Task, WorkerLostException Error)>();
        var requeued = 0;
        foreach (var task in worker.InFlight.Values)
        {
            if (task.Job.IsFinished)
            {
                continue;
            }

            var alone = worker.Isolating == task.TaskId ? " while running alone" : string.Empty;
            var deaths = (task.Deaths ?? []).Append($"{worker.Id} {how}{alone}").ToArray();
            if (deaths.Length >= _maxWorkerDeaths)
            {
                poisoned.Add((task, new WorkerLostException(
                    $"{task.Job.Stub.DisplayName} item {task.Index} was running in {deaths.Length} worker processes that died " +
                    $"(MaxWorkerDeaths = {_maxWorkerDeaths}): {string.Join("; ", deaths)}. " +
                    "The item likely crashes the process that runs it (stack overflow, out of memory, Environment.Exit or native code); fix the method or the item.",
                    task.Job.Stub.DisplayName, task.Index, deaths)));
            }
            else
            {
                _suspects.AddLast(task with { Deaths = deaths });
                requeued++;
            }
        }

        worker.InFlight.Clear();
        worker.PendingCancels.Clear();
        worker.Isolating = null;
        Interlocked.Add(ref _requeued, requeued);
        return poisoned;
    }

    private void FailPoisoned(WorkerConnection worker, List<(PendingTask Task, WorkerLostException Error)> poisoned)
    {
        foreach (var (task, exception) in poisoned)
        {
            _logger.LogError("{Method} item {Index} fails: it was running in {Deaths} worker processes that died", task.Job.Stub.DisplayName, task.Index, exception.WorkerDeaths.Count);
            Interlocked.Increment(ref _failed);
            RemoteTelemetry.TasksFailed.Add(1, _clusterTag, worker.Tag);
            task.Job.OnFailure(task.Index, exception);
        }
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

        _logger.LogError("The cluster has no workers left and gets none back: {Why} {Jobs} call(s) fail", why, jobs.Count);
        foreach (var job in jobs)
        {
            job.Fail(new WorkerLostException(
                $"The cluster has no workers left, so {job.Stub.DisplayName} cannot finish: {why} Start a new cluster.",
                job.Stub.DisplayName, 0, []));
        }
    }

    /// <summary>Ends every job and stops taking new ones.</summary>
    public void Close(Exception reason)
    {
        List<Job> jobs;
        lock (_gate)
        {
            _closed = true;
            jobs = [.. _jobs.Values];
            foreach (var worker in _workers)
            {
                worker.State = WorkerState.Stopped;
            }
        }

        foreach (var job in jobs)
        {
            job.Fail(reason);
        }
    }

    private void OnJobFinished(Job job)
    {
        List<WorkerConnection>? toSignal = null;
        bool idle;
        lock (_gate)
        {
            _jobs.Remove(job.Id);
            idle = _jobs.Count == 0;
            job.ClearQueue();
            if (job.IsQueued)
            {
                _queue.Remove(job);
                job.IsQueued = false;
            }

            // A job that ended because every item ended has nothing left anywhere; only one that ended early
            // (failure, cancellation) needs its leftovers found, which scans every worker's tasks in flight.
            if (!job.EndedWithEveryItem)
            {
                RemoveJob(_retries, job);
                RemoveJob(_suspects, job);
                CancelInFlight(job, ref toSignal);
            }

            // Nothing of the job can be sent again (retries and suspects copy their arguments under this lock).
            job.ReleaseBuffers();
        }

        foreach (var worker in toSignal ?? [])
        {
            worker.Signal.Set();
        }

        Changed?.Invoke(idle);
    }

    /// <summary>Tells workers to stop the job's items they still run; their results, if any, are dropped on arrival (scheduler lock).</summary>
    private void CancelInFlight(Job job, ref List<WorkerConnection>? toSignal)
    {
        foreach (var worker in _workers)
        {
            var before = worker.PendingCancels.Count;
            foreach (var (id, task) in worker.InFlight)
            {
                if (task.Job == job)
                {
                    worker.PendingCancels.Add(id);
                }
            }

            if (worker.PendingCancels.Count > before)
            {
                (toSignal ??= []).Add(worker);
            }
        }
    }

    /// <summary>The worker reports one execution time per batch, so each of its tasks records the batch's average.</summary>
    private void RecordDurations(WorkerConnection worker, ulong nanoseconds, int tasks)
    {
        if (!RemoteTelemetry.TaskDuration.Enabled || tasks == 0)
        {
            return;
        }

        var seconds = nanoseconds / 1e9 / tasks;
        for (var i = 0; i < tasks; i++)
        {
            RemoteTelemetry.TaskDuration.Record(seconds, _clusterTag, worker.Tag);
        }
    }

    /// <summary>Puts a task that threw back in the queue after a backoff that doubles with each attempt (scheduler lock).</summary>
    private void ScheduleRetry(PendingTask task)
    {
        var delay = TimeSpan.FromTicks(Math.Min(MaxRetryDelay.Ticks, RetryDelay.Ticks << Math.Min(task.Attempt - 1, 20)));
        ITimer? timer = null;
        timer = TimeProvider.CreateTimer(
            _ =>
            {
                lock (_gate)
                {
                    timer?.Dispose();
                    if (task.Job.IsFinished || _closed)
                    {
                        return;
                    }

                    _retries.AddLast(task);
                }

                SignalAll();
            },
            null,
            delay,
            Timeout.InfiniteTimeSpan);
    }

    private void EnsureQueued(Job job)
    {
        if (!job.IsQueued && job.HasQueuedItems)
        {
            _queue.AddLast(job);
            job.IsQueued = true;
        }
    }

    private static void RemoveJob(LinkedList<PendingTask> tasks, Job job)
    {
        for (var node = tasks.First; node is not null;)
        {
            var next = node.Next;
            if (node.Value.Job == job)
            {
                tasks.Remove(node);
            }

            node = next;
        }
    }

    /// <summary>Removes a finished task from a worker's in-flight set (scheduler lock).</summary>
    private static bool Complete(WorkerConnection worker, ulong taskId, out PendingTask task)
    {
        if (worker.Isolating == taskId)
        {
            worker.Isolating = null;
        }

        return worker.InFlight.Remove(taskId, out task);
    }

    /// <summary>Sends one suspect task to an idle worker, alone (scheduler lock).</summary>
    private TaskBatch? TakeSuspect(WorkerConnection worker)
    {
        while (_suspects.First is { } node)
        {
            var task = node.Value;
            _suspects.RemoveFirst();
            if (task.Job.IsFinished)
            {
                continue;
            }

            var batch = NewBatch(task.Job);
            batch.TaskIds.Add(task.TaskId);
            // A copy: the job may end, and return its pooled arrays, while the batch is still being sent.
            batch.Arguments = ByteString.CopyFrom(task.Arguments.Span);
            worker.InFlight[task.TaskId] = task with { SentAt = task.Job.TraceTimestamp() };
            worker.Isolating = task.TaskId;
            return batch;
        }

        return null;
    }

    private TaskBatch? TakeRetries(WorkerConnection worker, int credit)
    {
        if (_retries.First is not { } first)
        {
            return null;
        }

        var job = first.Value.Job;
        var batch = NewBatch(job);
        var buffer = new ArrayBufferWriter<byte>();
        var sentAt = job.TraceTimestamp();
        while (_retries.First is { } node && node.Value.Job == job && batch.TaskIds.Count < credit)
        {
            var task = node.Value;
            _retries.RemoveFirst();
            batch.TaskIds.Add(task.TaskId);
            buffer.Write(task.Arguments.Span);
            worker.InFlight[task.TaskId] = task with { SentAt = sentAt };
        }

        batch.Arguments = UnsafeByteOperations.UnsafeWrap(buffer.WrittenMemory);
        return batch;
    }

    /// <summary>The next batch of queued items; <paramref name="lease"/> is a hold on the pooled array its arguments point into.</summary>
    private TaskBatch? TakeQueued(WorkerConnection worker, int credit, out RentedBuffer? lease)
    {
        lease = null;
        while (_queue.First is { } node)
        {
            var job = node.Value;

            // A worker takes no more than its share of what is queued, so that a short map spreads over every worker
            // instead of filling the prefetch window of whichever worker asks first.
            var share = (int)Math.Min(credit, Math.Max(1, (job.QueuedItemCount + _workers.Count - 1) / _workers.Count));
            if (job.IsFinished || !job.TryTake(share, WireLimits.BatchTargetBytes, out var chunk, out var start, out var count))
            {
                _queue.RemoveFirst();
                job.IsQueued = false;
                continue;
            }

            if (!job.HasQueuedItems)
            {
                _queue.RemoveFirst();
                job.IsQueued = false;
            }

            var batch = NewBatch(job);
            var sentAt = job.TraceTimestamp();
            for (var i = 0; i < count; i++)
            {
                var index = chunk.FirstIndex + start + i;
                var task = new PendingTask(job, index, chunk.Slice(start + i, 1), 0, null, sentAt);
                var id = task.TaskId;
                batch.TaskIds.Add(id);
                worker.InFlight[id] = task;
            }

            batch.Arguments = UnsafeByteOperations.UnsafeWrap(chunk.Slice(start, count));
            lease = chunk.Lease;
            lease?.Retain();
            return batch;
        }

        return null;
    }

    private static TaskBatch NewBatch(Job job) => new() { Assembly = job.Stub.AssemblyName, StubId = job.Stub.Id };

    private void SignalAll()
    {
        lock (_gate)
        {
            foreach (var worker in _workers)
            {
                worker.Signal.Set();
            }
        }
    }

    private static Exception ToException(TaskFailure failure, PendingTask task, WorkerConnection worker)
    {
        var method = task.Job.Stub.DisplayName;
        return failure.Kind switch
        {
            FailureKind.UnknownMethod => new EnvironmentSyncException(
                $"Worker {worker.Id} cannot run {method} (item {task.Index}): {failure.Message}"),
            FailureKind.Canceled when task.Job.CancellationToken.IsCancellationRequested => new OperationCanceledException(task.Job.CancellationToken),
            _ => new RemoteException(method, failure.ExceptionType, failure.Message, failure.StackTrace, worker.Id, task.Index),
        };
    }
}
