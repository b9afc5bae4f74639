using System.Buffers;
using Coiled.Remote.Sharing;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Google.Protobuf;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// The tasks waiting to be sent, and the batches taken from them within a worker's credit: first a suspect (a task a
/// dead worker ran) alone to an idle worker, then retries whose backoff ended, then queued items, the jobs taking turns.
/// Touched only under the scheduler's lock.
/// </summary>
internal sealed class TaskQueue
{
    private readonly LinkedList<Job> _jobs = new();
    private readonly LinkedList<PendingTask> _retries = new();

    /// <summary>
    /// Tasks that were in flight on a worker that died. Each runs alone on an otherwise idle worker, so that a task
    /// that kills its worker is identified and innocent neighbours do not accumulate deaths.
    /// </summary>
    private readonly LinkedList<PendingTask> _suspects = new();

    /// <summary>Tasks waiting: queued items, retries due and suspects.</summary>
    public long Count => _retries.Count + _suspects.Count + _jobs.Sum(j => j.QueuedItemCount);

    /// <summary>Puts the job in line if it has items and is not in line already.</summary>
    public void Enqueue(Job job)
    {
        if (!job.IsQueued && job.HasQueuedItems)
        {
            _jobs.AddLast(job);
            job.IsQueued = true;
        }
    }

    /// <summary>A task whose backoff ended: it goes out before queued items (with the tasks of a worker taken away, <see cref="Return(WorkerTasks)"/>).</summary>
    public void AddRetry(PendingTask task) => _retries.AddLast(task);

    /// <summary>A task that was running on a worker that died: it goes out next, alone.</summary>
    public void AddSuspect(PendingTask task) => _suspects.AddLast(task);

    /// <summary>
    /// Puts a worker's tasks in flight back, as they were, and forgets what was placed on it; returns how many. For a
    /// worker taken away from under its tasks (its machine reclaimed), which counts no death against them: they go out
    /// again before queued items, and a suspect stays one.
    /// </summary>
    public int Return(WorkerTasks worker)
    {
        var returned = Return(worker.InFlight.Values);
        worker.Clear();
        return returned;
    }

    /// <summary>Puts tasks a worker gave back unrun in front of queued items, as they were; returns how many.</summary>
    public int Return(IEnumerable<PendingTask> tasks)
    {
        var returned = 0;
        foreach (var task in tasks)
        {
            if (task.Job.IsFinished)
            {
                continue;
            }

            if (task.Deaths is { Count: > 0 })
            {
                _suspects.AddLast(task);
            }
            else
            {
                _retries.AddLast(task);
            }

            returned++;
        }

        return returned;
    }

    /// <summary>Drops whatever of an ended job still waits; <paramref name="early"/> says it ended before every item did.</summary>
    public void Remove(Job job, bool early)
    {
        job.ClearQueue();
        if (job.IsQueued)
        {
            _jobs.Remove(job);
            job.IsQueued = false;
        }

        // A job that ended because every item ended has no retries or suspects left.
        if (early)
        {
            Remove(_retries, job);
            Remove(_suspects, job);
        }
    }

    /// <summary>
    /// The next batch for <paramref name="worker"/>, placed on it; null when nothing waits or its credit is spent.
    /// <paramref name="lease"/> is a hold on the pooled array the batch's arguments point into, if any. The shared
    /// values the batch refers to are prepared on the worker (<see cref="WorkerSharedValues.TryPrepare"/>); a batch whose
    /// values do not fit beside those its tasks in flight need waits, and another job's goes instead.
    /// </summary>
    /// <param name="worker">The worker that asks.</param>
    /// <param name="workers">How many workers share the queue (a worker takes no more than its share).</param>
    /// <param name="lease">The hold on the batch's pooled array, which the sender releases.</param>
    /// <param name="replacedBytes">Bytes the batch's references to shared values stand for.</param>
    public TaskBatch? TakeFor(WorkerTasks worker, int workers, out RentedBuffer? lease, out long replacedBytes)
    {
        lease = null;
        replacedBytes = 0;
        if (worker.InFlight.Count == 0 && TakeSuspect(worker) is { } isolated)
        {
            return isolated;
        }

        var credit = Math.Min(worker.Credit, WireLimits.MaxTasksPerBatch);
        if (credit <= 0)
        {
            return null;
        }

        return TakeRetries(worker, credit) ?? TakeQueued(worker, credit, workers, out lease, out replacedBytes);
    }

    /// <summary>Sends one suspect task to an idle worker, alone.</summary>
    private TaskBatch? TakeSuspect(WorkerTasks worker)
    {
        while (_suspects.First is { } node)
        {
            var task = node.Value;
            if (task.Job.IsFinished)
            {
                _suspects.RemoveFirst();
                continue;
            }

            if (task.Shares is { } shares && !worker.Shared.TryPrepare(shares))
            {
                return null;
            }

            _suspects.RemoveFirst();

            var batch = NewBatch(task.Job);
            batch.TaskIds.Add(task.TaskId);
            // A copy: the job may end, and return its pooled arrays, while the batch is still being sent.
            batch.Arguments = ByteString.CopyFrom(task.Arguments.Span);
            worker.Isolate(task with { SentAt = task.Job.TraceTimestamp() });
            return batch;
        }

        return null;
    }

    private TaskBatch? TakeRetries(WorkerTasks worker, int credit)
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
            if (task.Shares is { } shares && !worker.Shared.TryPrepare(shares))
            {
                // Its shared values do not fit beside what the worker's tasks in flight need: it waits for them.
                break;
            }

            _retries.RemoveFirst();
            batch.TaskIds.Add(task.TaskId);
            buffer.Write(task.Arguments.Span);
            worker.Place(task with { SentAt = sentAt });
        }

        if (batch.TaskIds.Count == 0)
        {
            return null;
        }

        batch.Arguments = UnsafeByteOperations.UnsafeWrap(buffer.WrittenMemory);
        return batch;
    }

    /// <summary>The next batch of queued items; <paramref name="lease"/> is a hold on the pooled array its arguments point into.</summary>
    private TaskBatch? TakeQueued(WorkerTasks worker, int credit, int workers, out RentedBuffer? lease, out long replacedBytes)
    {
        lease = null;
        replacedBytes = 0;
        for (var node = _jobs.First; node is not null;)
        {
            var job = node.Value;
            var next = node.Next;

            // A worker takes no more than its share of what is queued, so that a short map spreads over every worker
            // instead of filling the prefetch window of whichever worker asks first.
            var share = (int)Math.Min(credit, Math.Max(1, (job.QueuedItemCount + workers - 1) / workers));
            if (job.IsFinished || !job.TryPeek(share, WireLimits.BatchTargetBytes, out var chunk, out var start, out var count))
            {
                _jobs.Remove(node);
                job.IsQueued = false;
                node = next;
                continue;
            }

            SharedValue[]? shares = null;
            SharedValue[]?[]? each = null;
            if (chunk.Shares is { } chunkShares)
            {
                shares = SharesFitting(chunkShares, worker.Shared.Budget, start, ref count);
                if (shares is not null && !worker.Shared.TryPrepare(shares))
                {
                    // Its shared values do not fit beside what the worker's tasks in flight need: another job's items may.
                    node = next;
                    continue;
                }

                replacedBytes = chunkShares.ReplacedBytes(start, count);
                each = shares is null ? null : chunkShares.ValuesOfEach(start, count);
            }

            job.Take(chunk, count);
            if (!job.HasQueuedItems)
            {
                _jobs.Remove(node);
                job.IsQueued = false;
            }

            var batch = NewBatch(job);
            var sentAt = job.TraceTimestamp();
            for (var i = 0; i < count; i++)
            {
                var task = new PendingTask(job, chunk.FirstIndex + start + i, chunk.Slice(start + i, 1), 0, null, sentAt, each?[i]);
                batch.TaskIds.Add(task.TaskId);
                worker.Place(task);
            }

            batch.Arguments = UnsafeByteOperations.UnsafeWrap(chunk.Slice(start, count));
            lease = chunk.Lease;
            lease?.Retain();
            return batch;
        }

        return null;
    }

    /// <summary>
    /// The shared values items [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>) refer to,
    /// with <paramref name="count"/> cut until they fit in a worker's <paramref name="budget"/> (one item's always do: its
    /// builder refused more); null for none.
    /// </summary>
    private static SharedValue[]? SharesFitting(ChunkShares chunk, long budget, int start, ref int count)
    {
        var shares = chunk.ValuesOf(start, count);
        while (count > 1 && shares is not null && WorkerSharedValues.SizeOf(shares) > budget)
        {
            count /= 2;
            shares = chunk.ValuesOf(start, count);
        }

        return shares;
    }

    private static TaskBatch NewBatch(Job job) => new() { Assembly = job.Stub.AssemblyName, StubId = job.Stub.Id };

    private static void Remove(LinkedList<PendingTask> tasks, Job job)
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
}
