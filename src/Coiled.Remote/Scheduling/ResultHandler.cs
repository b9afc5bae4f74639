using System.Buffers;
using Coiled.Remote.Telemetry;
using Coiled.Remote.Transport.Protocol;
using MessagePack;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// Hands a worker's results to their calls: under the scheduler's lock it takes the tasks off the worker and decides
/// which failures go round again (the method's <see cref="RemoteAttribute.Retries"/>); outside it, it reads each result
/// into its call and fails the items that are done failing.
/// </summary>
internal sealed class ResultHandler(RetryTimer retries, SchedulerMetrics metrics, ILogger logger)
{
    /// <summary>Takes the batch's tasks off <paramref name="worker"/> (null: the worker is no longer the scheduler's) and schedules retries (scheduler lock).</summary>
    public CompletedBatch Complete(WorkerTasks? worker, string workerId, ResultBatch batch)
    {
        var count = batch.TaskIds.Count;
        var owners = ArrayPool<PendingTask?>.Shared.Rent(count);
        List<(PendingTask Task, TaskFailure Failure)>? failures = null;
        List<(PendingTask Task, TaskFailure Failure)>? traced = null;
        List<PendingTask>? returned = null;
        var retried = 0;
        var delivered = 0;
        if (worker is null)
        {
            Array.Clear(owners, 0, count);
            return new CompletedBatch(owners, 0, 0, null, null);
        }

        for (var i = 0; i < count; i++)
        {
            owners[i] = worker.Complete(batch.TaskIds[i], out var task) && !task.Job.IsFinished ? task : null;
            if (owners[i] is not null)
            {
                delivered++;
            }
        }

        foreach (var failure in batch.Failures)
        {
            if (!worker.Complete(failure.TaskId, out var task) || task.Job.IsFinished)
            {
                continue;
            }

            if (failure.Kind == FailureKind.Returned)
            {
                // Given back unrun: it goes out again as it was, nothing counted against it.
                (returned ??= []).Add(task);
                continue;
            }

            if (task.Job.Activity is not null)
            {
                (traced ??= []).Add((task, failure));
            }

            if (failure.Kind == FailureKind.Exception && task.Attempt < task.Job.Stub.Retries)
            {
                logger.ItemRetried(task.Job.Stub.DisplayName, task.Index, failure.ExceptionType, workerId, task.Attempt + 1, task.Job.Stub.Retries);
                retries.Schedule(task with { Attempt = task.Attempt + 1 });
                retried++;
            }
            else
            {
                (failures ??= []).Add((task, failure));
            }
        }

        worker.RecordExecution(batch.ExecutionNanoseconds, count + batch.Failures.Count - (returned?.Count ?? 0));
        return new CompletedBatch(owners, delivered, retried, failures, traced, returned);
    }

    /// <summary>Reads each result into its call and fails the items that failed for good (outside the lock).</summary>
    public void Deliver(ITaskWorker worker, ResultBatch batch, CompletedBatch completed)
    {
        var count = batch.TaskIds.Count;
        var owners = completed.Owners;
        // Tasks given back unrun ran nowhere: they count where they run.
        metrics.ResultsArrived(worker, completed.Delivered, completed.Retried, batch.Results.Length, batch.ExecutionNanoseconds, count + batch.Failures.Count - (completed.Returned?.Count ?? 0));
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
                    task.Job.OnFailure(task.Index, TaskFailures.UnreadableResults(task, worker.Id, ex));
                }
            }
        }
        finally
        {
            ArrayPool<PendingTask?>.Shared.Return(owners, clearArray: true);
        }

        foreach (var (task, failure) in completed.Traced ?? [])
        {
            RemoteTelemetry.TraceTask(task.Job.Activity!, task.Job.Stub.DisplayName, worker.Id, task.Index, task.Attempt, task.SentAt, task.Arguments.Length, 0, failure);
        }

        if (completed.Failures is { } failures)
        {
            metrics.Failed(worker, failures.Count);
            foreach (var (task, failure) in failures)
            {
                task.Job.OnFailure(task.Index, TaskFailures.From(failure, task, worker.Id));
            }
        }
    }
}
