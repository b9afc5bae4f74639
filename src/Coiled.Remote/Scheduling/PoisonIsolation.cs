using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// Counts the deaths a task was present for. The tasks of a worker (or executor) that died go back to the queue as
/// suspects, each to run alone next; a task that reaches <see cref="ClusterOptions.MaxWorkerDeaths"/> fails instead,
/// alone, so that one poison item does not take the whole call, or the cluster, down with it.
/// </summary>
internal sealed class PoisonIsolation(int maxWorkerDeaths, TaskQueue queue, SchedulerMetrics metrics, ILogger logger)
{
    private readonly int _maxWorkerDeaths = Math.Max(1, maxWorkerDeaths);

    /// <summary>
    /// Puts a worker's in-flight tasks back in the queue with the death it just saw, and forgets what was placed on it;
    /// returns the tasks that reached the limit, to fail outside the lock (scheduler lock).
    /// </summary>
    public List<(PendingTask Task, WorkerLostException Error)> Requeue(WorkerTasks worker, string how)
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
            var deaths = (task.Deaths ?? []).Append($"{worker.Worker.Id} {how}{alone}").ToArray();
            if (deaths.Length >= _maxWorkerDeaths)
            {
                poisoned.Add((task, TaskFailures.Poisoned(task, deaths, _maxWorkerDeaths)));
            }
            else
            {
                queue.AddSuspect(task with { Deaths = deaths });
                requeued++;
            }
        }

        worker.Clear();
        metrics.Requeued(requeued);
        return poisoned;
    }

    /// <summary>Fails the tasks <see cref="Requeue"/> returned (outside the lock).</summary>
    public void Fail(ITaskWorker worker, List<(PendingTask Task, WorkerLostException Error)> poisoned)
    {
        foreach (var (task, exception) in poisoned)
        {
            logger.ItemPoisoned(task.Job.Stub.DisplayName, task.Index, exception.WorkerDeaths.Count);
            metrics.Failed(worker, 1);
            task.Job.OnFailure(task.Index, exception);
        }
    }
}
