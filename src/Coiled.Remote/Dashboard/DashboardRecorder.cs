using Coiled.Remote.Scheduling;
using Coiled.Remote.Transport.Protocol;

namespace Coiled.Remote.Dashboard;

/// <summary>
/// What the scheduler tells the dashboard as it works: calls starting and ending, and each result batch. It is told
/// once per batch, never per task, and keeps a bounded amount (<see cref="DashboardLimits"/>), so that the hot path
/// stays as fast with the dashboard on as off. The dashboard reads it once a second.
/// </summary>
internal sealed class DashboardRecorder
{
    private readonly TimeProvider _time;
    private readonly long _started;
    private readonly object _gate = new();
    private readonly TaskBar?[] _bars = new TaskBar?[DashboardLimits.BarsKept];
    private readonly Dictionary<(string Worker, int Lane), int> _openBars = [];
    private readonly Dictionary<string, WorkerTally> _workers = new(StringComparer.Ordinal);
    private readonly Queue<RecentError> _errors = new();
    private readonly LinkedList<CallRecord> _running = new();
    private readonly Queue<CallRecord> _ended = new();
    private long _nextBar;
    private long _nextCall;

    private bool _failed;

    public DashboardRecorder(TimeProvider time)
    {
        _time = time;
        _started = time.GetTimestamp();
    }

    /// <summary>Milliseconds since the recorder started: the time scale of every bar, error and call.</summary>
    public double NowMs => _time.GetElapsedTime(_started).TotalMilliseconds;

    /// <summary>Whether a hook failed: the recorder then stops recording, and the dashboard shows what it had.</summary>
    public bool Failed => Volatile.Read(ref _failed);

    /// <summary>A call was added to the scheduler. Never throws into the scheduler: a recorder that fails stops recording.</summary>
    public void CallStarted(Job job)
    {
        if (!Failed)
        {
            try
            {
                CallStartedCore(job);
            }
            catch (Exception)
            {
                Volatile.Write(ref _failed, true);
            }
        }
    }

    /// <summary>A call ended. Never throws into the scheduler.</summary>
    public void CallEnded(Job job)
    {
        if (!Failed)
        {
            try
            {
                CallEndedCore(job);
            }
            catch (Exception)
            {
                Volatile.Write(ref _failed, true);
            }
        }
    }

    /// <summary>A batch of results came from <paramref name="worker"/>. Never throws into the scheduler.</summary>
    public void OnBatch(ITaskWorker worker, ResultBatch batch, in CompletedBatch completed)
    {
        if (!Failed)
        {
            try
            {
                OnBatchCore(worker, batch, completed);
            }
            catch (Exception)
            {
                Volatile.Write(ref _failed, true);
            }
        }
    }

    /// <summary>A call was submitted (scheduler lock).</summary>
    private void CallStartedCore(Job job)
    {
        lock (_gate)
        {
            var record = new CallRecord(++_nextCall, job, NowMs);
            job.Dashboard = record;
            record.Node = _running.AddLast(record);
        }
    }

    /// <summary>A call ended, however it ended.</summary>
    private void CallEndedCore(Job job)
    {
        if (job.Dashboard is not { } record)
        {
            return;
        }

        lock (_gate)
        {
            if (record.Node is not { } node)
            {
                return;
            }

            // Many calls may run at once (thousands of SubmitAsync): each leaves the list at once, wherever it is.
            _running.Remove(node);
            record.Node = null;
            record.End(NowMs);
            _ended.Enqueue(record);
            while (_ended.Count > DashboardLimits.EndedCallsKept)
            {
                _ended.Dequeue();
            }
        }
    }

    /// <summary>
    /// A result batch from <paramref name="worker"/> was sorted (before its results are handed out, while
    /// <paramref name="completed"/>'s owners are still there): its counts go to the calls and the worker, and its
    /// tasks to the stream as one bar per slot they ran in.
    /// </summary>
    private void OnBatchCore(ITaskWorker worker, ResultBatch batch, in CompletedBatch completed)
    {
        var count = batch.TaskIds.Count;
        var owners = completed.Owners;
        string? method = null;
        Job? run = null;
        long runLength = 0;
        for (var i = 0; i < count; i++)
        {
            if (owners[i]?.Job is not { } job)
            {
                continue;
            }

            if (!ReferenceEquals(job, run))
            {
                run?.Dashboard?.AddDone(runLength);
                run = job;
                runLength = 0;
                method ??= job.Stub.DisplayName;
            }

            runLength++;
        }

        run?.Dashboard?.AddDone(runLength);
        var failures = completed.Failures;
        foreach (var (task, _) in failures ?? [])
        {
            task.Job.Dashboard?.AddFailed(1);
        }

        var ran = count + batch.Failures.Count - (completed.Returned?.Count ?? 0);
        if (ran <= 0)
        {
            return;
        }

        var now = NowMs;
        lock (_gate)
        {
            var activity = Activity(worker.Id);
            activity.Done += ran;
            var lanes = Math.Clamp(Math.Min(worker.Slots, DashboardLimits.LanesPerWorker), 1, Math.Max(1, ran));
            var perLaneMs = batch.ExecutionNanoseconds / 1e6 / lanes;
            var succeeded = count;
            if (method is not null && succeeded > 0)
            {
                var lanesUsed = Math.Min(lanes, succeeded);
                for (var i = 0; i < lanesUsed; i++)
                {
                    AddBar(worker.Id, activity.NextLane(worker.Slots), method, now - perLaneMs, now, (succeeded / lanesUsed) + (i < succeeded % lanesUsed ? 1 : 0), failed: false);
                }
            }

            foreach (var (task, failure) in failures ?? [])
            {
                AddBar(worker.Id, activity.NextLane(worker.Slots), task.Job.Stub.DisplayName, now - perLaneMs, now, 1, failed: true);
                AddError(new RecentError(
                    now, task.Job.Stub.DisplayName, task.Index, worker.Id, failure.ExceptionType, Cut(failure.Message, DashboardLimits.MessageChars), StackLines(failure.StackTrace)));
            }
        }
    }

    /// <summary>A worker ended (lost, interrupted, its process gone): the dashboard greys it and says why.</summary>
    public void WorkerEnded(string worker, string how)
    {
        lock (_gate)
        {
            Activity(worker).Ended ??= how;
        }
    }

    /// <summary>Tasks each worker ran, and why it ended if it did.</summary>
    public Dictionary<string, (long Done, string? Ended)> WorkerActivities()
    {
        lock (_gate)
        {
            return _workers.ToDictionary(w => w.Key, w => (w.Value.Done, w.Value.Ended), StringComparer.Ordinal);
        }
    }

    /// <summary>The latest failed items, newest last.</summary>
    public List<RecentError> Errors()
    {
        lock (_gate)
        {
            return [.. _errors];
        }
    }

    /// <summary>At most <paramref name="max"/> calls: running ones, then ended ones, newest first; each running call's rate sampled now.</summary>
    public List<CallRecord> Calls(double nowMs, int max = int.MaxValue)
    {
        var calls = new List<CallRecord>();
        lock (_gate)
        {
            for (var node = _running.Last; node is not null && calls.Count < max; node = node.Previous)
            {
                node.Value.Sample(nowMs);
                calls.Add(node.Value);
            }

            calls.AddRange(_ended.Reverse().Take(max - calls.Count));
        }

        return calls;
    }

    /// <summary>The bars that ended at or after <paramref name="sinceMs"/> within the stream's window, at most <paramref name="max"/>, latest kept.</summary>
    public List<TaskBar> Bars(double sinceMs, int max)
    {
        var windowStart = NowMs - DashboardLimits.StreamWindow.TotalMilliseconds;
        var from = Math.Max(sinceMs, windowStart);
        var bars = new List<TaskBar>();
        lock (_gate)
        {
            var first = Math.Max(0, _nextBar - _bars.Length);
            for (var id = _nextBar - 1; id >= first && bars.Count < max; id--)
            {
                if (_bars[id % _bars.Length] is { } bar && bar.EndMs >= from)
                {
                    bars.Add(bar);
                }
            }
        }

        bars.Reverse();
        return bars;
    }

    /// <summary>
    /// Adds a bar, or extends the slot's last one when it is of the same method and ended just before (recorder lock);
    /// a slot's last bar that the ring already overwrote is not extended.
    /// </summary>
    private void AddBar(string worker, int lane, string method, double startMs, double endMs, long tasks, bool failed)
    {
        if (_openBars.TryGetValue((worker, lane), out var index)
            && _bars[index] is { } open && open.Lane == lane && open.Worker == worker && open.Method == method && open.Failed == failed
            && startMs - open.EndMs <= DashboardLimits.MergeGapMs)
        {
            _bars[index] = open with { EndMs = endMs, Tasks = open.Tasks + tasks };
            return;
        }

        var id = _nextBar++;
        index = (int)(id % _bars.Length);
        _bars[index] = new TaskBar(id, worker, lane, method, Math.Max(startMs, 0), endMs, tasks, failed);
        _openBars[(worker, lane)] = index;
    }

    private void AddError(RecentError error)
    {
        _errors.Enqueue(error);
        while (_errors.Count > DashboardLimits.ErrorsKept)
        {
            _errors.Dequeue();
        }
    }

    private WorkerTally Activity(string worker)
    {
        if (!_workers.TryGetValue(worker, out var activity))
        {
            _workers[worker] = activity = new WorkerTally();
        }

        return activity;
    }

    internal static string Cut(string text, int chars) => text.Length <= chars ? text : string.Concat(text.AsSpan(0, chars - 1), "…");

    /// <summary>The first non-empty lines of a stack trace, each cut to its limit; the rest of the text is never copied.</summary>
    internal static IReadOnlyList<string> StackLines(string stack)
    {
        var lines = new List<string>(DashboardLimits.StackLines);
        foreach (var range in stack.AsSpan().Split('\n'))
        {
            var line = stack.AsSpan(range).Trim();
            if (line.IsEmpty)
            {
                continue;
            }

            lines.Add(line.Length <= DashboardLimits.StackLineChars
                ? line.ToString()
                : string.Concat(line[..(DashboardLimits.StackLineChars - 1)], "…"));
            if (lines.Count == DashboardLimits.StackLines)
            {
                break;
            }
        }

        return lines;
    }
}
