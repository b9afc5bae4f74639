using Coiled.Remote.Sharing;
using Coiled.Remote.Transport.Protocol;

namespace Coiled.Remote.Scheduling;

/// <summary>The scheduler's shared values that <see cref="Shared{T}"/> handles hold, and how the workers let go of them.</summary>
internal sealed partial class Scheduler
{
    /// <summary>
    /// A handle holds <paramref name="value"/> from now on, as a call does: the caller keeps its bytes and the workers
    /// are sent it when a task needs it. Returns the cluster's value of its hash.
    /// </summary>
    public SharedValue Share(SharedValue value)
    {
        lock (_gate)
        {
            if (_closed)
            {
                value.DropBytes();
                throw new ObjectDisposedException(nameof(Cluster), "The cluster was disposed; start a new one.");
            }

            var known = _shared.Intern(value);
            SharedValueTable.AddCall(known);
            known.Explicit = true;
            known.Withdrawn = false;
            return known;
        }
    }

    /// <summary>A handle was disposed: once no other handle and no running call refers to the value, the workers drop it.</summary>
    public void Unshare(SharedValue value)
    {
        List<ITaskWorker>? toWake = null;
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }

            EndShare(value, ref toWake);
        }

        foreach (var worker in toWake ?? [])
        {
            worker.Wake();
        }
    }

    /// <summary>
    /// A call or a handle stopped referring to <paramref name="value"/>. A handle's value that nothing refers to any more
    /// is withdrawn, and each worker that holds it and runs no task that needs it is told to drop it (scheduler lock).
    /// </summary>
    private void EndShare(SharedValue value, ref List<ITaskWorker>? toWake)
    {
        if (!_shared.EndCall(value) || !value.Explicit)
        {
            return;
        }

        value.Explicit = false;
        value.Withdrawn = true;
        foreach (var tasks in _workers.Values)
        {
            if (tasks.Shared.Drop(value))
            {
                (toWake ??= []).Add(tasks.Worker);
            }
        }
    }

    /// <summary>
    /// Items of <paramref name="completed"/> ended, for good: a stream lets go of the shared values no other item of it
    /// refers to any more (scheduler lock).
    /// </summary>
    private void ItemsEnded(CompletedBatch completed, int results, ref List<ITaskWorker>? toWake)
    {
        List<SharedValue>? ended = null;
        for (var i = 0; i < results; i++)
        {
            if (completed.Owners[i] is { Shares: { } shares } task)
            {
                task.Job.Shares.ItemEnded(shares, ref ended);
            }
        }

        foreach (var (task, _) in completed.Failures ?? [])
        {
            if (task.Shares is { } shares)
            {
                task.Job.Shares.ItemEnded(shares, ref ended);
            }
        }

        foreach (var value in ended ?? [])
        {
            EndShare(value, ref toWake);
        }
    }

    /// <summary>The first value of <paramref name="chunks"/> whose handles were disposed meanwhile, as an error; null when none was.</summary>
    private static ArgumentException? Withdrawn(Job job, IEnumerable<ArgumentChunk> chunks)
    {
        foreach (var chunk in chunks)
        {
            if (chunk.Shares?.FirstWithdrawn() is { } value)
            {
                return new ArgumentException(
                    $"A Shared<T> passed to {job.Stub.DisplayName} (value {value.Hash}) was disposed while the call was being made, so the workers let go of its value. " +
                    "Dispose a handle only after the calls that pass it ended.");
            }
        }

        return null;
    }

    /// <summary>The request that tells a worker to drop values no handle or call refers to any more; null for none (scheduler lock).</summary>
    private OutgoingRequest? TakeReleases(WorkerTasks tasks)
    {
        if (tasks.Shared.TakeDrops() is not { } drop)
        {
            return null;
        }

        var release = new ReleaseValues();
        release.Sha256.AddRange(drop.Select(hash => hash.ToByteString()));
        Metrics.SharedValuesMoved(0, drop.Count, tasks.Shared.Bytes, 0);
        return new OutgoingRequest(new RunRequest { Release = release });
    }
}
