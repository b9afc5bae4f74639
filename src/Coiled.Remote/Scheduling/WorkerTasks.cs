using Coiled.Remote.Sharing;
using Coiled.Remote.Transport;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// What the scheduler placed on one worker: its tasks in flight, the cancels it has yet to send, the suspect it runs
/// alone, its credit window, and the shared values it holds. The scheduler's own state, touched only under the scheduler's lock.
/// </summary>
internal sealed class WorkerTasks
{
    private const int MaxWindow = WireLimits.MaxTasksInFlight;
    private static readonly TimeSpan TargetQueueTime = TimeSpan.FromMilliseconds(2);

    private readonly Dictionary<ulong, PendingTask> _inFlight = [];
    private readonly List<ulong> _pendingCancels = [];
    private readonly List<ulong> _pendingReturns = [];
    private double _averageTaskNanoseconds;

    /// <param name="worker">The worker.</param>
    /// <param name="shared">The shared values it holds.</param>
    /// <param name="busy">Times how long it holds tasks; it goes on counting after the worker left the scheduler.</param>
    public WorkerTasks(ITaskWorker worker, WorkerSharedValues shared, BusyClock busy)
    {
        Worker = worker;
        Shared = shared;
        Busy = busy;
        ResetWindow();
    }

    public ITaskWorker Worker { get; }

    /// <summary>The shared values the worker holds, and what it is sent or told to drop.</summary>
    public WorkerSharedValues Shared { get; }

    public IReadOnlyDictionary<ulong, PendingTask> InFlight => _inFlight;

    /// <summary>How long the worker held tasks, and since when it holds none.</summary>
    public BusyClock Busy { get; }

    /// <summary>The suspect task this worker runs alone, if any; it gets nothing else until that task ends.</summary>
    public ulong? Isolating { get; private set; }

    /// <summary>Most tasks this worker may hold at once: its slots plus enough prefetch to cover the round trip.</summary>
    public int Window { get; private set; }

    public int Credit => Window - _inFlight.Count;

    /// <summary>Starts the window over from the worker's slots (a new task stream, which may have other slots).</summary>
    public void ResetWindow() => Window = Worker.Slots * 2;

    /// <summary>The task was sent to this worker.</summary>
    public void Place(PendingTask task)
    {
        _inFlight[task.TaskId] = task;
        Busy.Holding(_inFlight.Count);
        if (task.Shares is { } shares)
        {
            Shared.TaskPlaced(shares);
        }
    }

    /// <summary>The suspect task was sent to this worker to run alone.</summary>
    public void Isolate(PendingTask task)
    {
        Place(task);
        Isolating = task.TaskId;
    }

    /// <summary>Removes a task that ended from the tasks in flight; false when it was not here (dropped, or the worker was lost).</summary>
    public bool Complete(ulong taskId, out PendingTask task)
    {
        if (Isolating == taskId)
        {
            Isolating = null;
        }

        if (!_inFlight.Remove(taskId, out task))
        {
            return false;
        }

        Busy.Holding(_inFlight.Count);

        if (task.Shares is { } shares)
        {
            Shared.TaskEnded(shares);
        }

        return true;
    }

    /// <summary>Asks the worker to stop the job's tasks it runs; true when there was one.</summary>
    public bool Cancel(Job job)
    {
        var before = _pendingCancels.Count;
        foreach (var (id, task) in _inFlight)
        {
            if (task.Job == job)
            {
                _pendingCancels.Add(id);
            }
        }

        return _pendingCancels.Count > before;
    }

    /// <summary>The cancels to send, taken; null when there are none.</summary>
    public IReadOnlyList<ulong>? TakeCancels()
    {
        if (_pendingCancels.Count == 0)
        {
            return null;
        }

        ulong[] cancels = [.. _pendingCancels];
        _pendingCancels.Clear();
        return cancels;
    }

    /// <summary>Asks the worker to give back every task it has not started (it retires).</summary>
    public void ReturnUnstarted() => _pendingReturns.AddRange(_inFlight.Keys);

    /// <summary>The tasks to ask back, taken; null when there are none.</summary>
    public IReadOnlyList<ulong>? TakeReturns()
    {
        if (_pendingReturns.Count == 0)
        {
            return null;
        }

        ulong[] returns = [.. _pendingReturns];
        _pendingReturns.Clear();
        return returns;
    }

    /// <summary>Forgets everything placed on the worker, and the shared values it held (it or its executor died; the tasks went elsewhere).</summary>
    public void Clear()
    {
        _inFlight.Clear();
        Busy.Holding(0);
        Shared.Clear();
        _pendingCancels.Clear();
        _pendingReturns.Clear();
        Isolating = null;
    }

    /// <summary>Adapts the window to how long tasks take on this worker.</summary>
    public void RecordExecution(ulong nanoseconds, int tasks)
    {
        if (tasks == 0)
        {
            return;
        }

        var slots = Worker.Slots;
        var perTask = Math.Max(1_000.0, (double)nanoseconds / tasks);
        _averageTaskNanoseconds = _averageTaskNanoseconds == 0 ? perTask : (_averageTaskNanoseconds * 0.7) + (perTask * 0.3);
        var prefetch = Math.Ceiling(slots * TargetQueueTime.TotalNanoseconds / _averageTaskNanoseconds);
        Window = (int)Math.Clamp(slots + prefetch, slots + 1, MaxWindow);
    }
}
