using Coiled.Remote.Transport;

namespace Coiled.Remote.Sharing;

/// <summary>
/// The shared values one worker's task stream holds, as the client decides them: what to send before a batch that
/// refers to values the worker lacks, and what to drop to stay within the worker's budget. The values no running call
/// refers to go first, then those of running calls that no task in flight on the worker needs, least recently used
/// first within each. Part of the scheduler's <see cref="Scheduling.WorkerTasks"/>, touched only under its lock.
/// </summary>
/// <param name="table">The cluster's shared values.</param>
/// <param name="budget">Most bytes of shared values the worker holds.</param>
internal sealed class WorkerSharedValues(SharedValueTable table, long budget)
{
    private readonly Dictionary<SharedValue, Holding> _held = new(ReferenceEqualityComparer.Instance);
    private List<(ValueHash Hash, RentedBuffer Bytes, int Size)>? _toSend;
    private List<ValueHash>? _toDrop;
    private long _clock;

    /// <summary>Bytes of shared values the worker holds.</summary>
    public long Bytes { get; private set; }

    public long Budget => budget;

    /// <summary>Whether the worker holds <paramref name="value"/>.</summary>
    public bool Holds(SharedValue value) => _held.ContainsKey(value);

    /// <summary>Bytes of <paramref name="values"/> together.</summary>
    public static long SizeOf(IReadOnlyList<SharedValue> values)
    {
        long size = 0;
        foreach (var value in values)
        {
            size += value.Size;
        }

        return size;
    }

    /// <summary>
    /// Makes sure the worker will hold <paramref name="needs"/> before the batch that refers to them: plans the sending
    /// of those it lacks and the dropping of others to make room (<see cref="TakeTransfers"/>). False, planning nothing,
    /// when tasks in flight on the worker need too much of what it holds for them to fit now.
    /// </summary>
    public bool TryPrepare(IReadOnlyList<SharedValue> needs)
    {
        long missing = 0;
        foreach (var value in needs)
        {
            if (!_held.ContainsKey(value))
            {
                missing += value.Size;
            }
        }

        var over = Bytes + missing - budget;
        if (over > 0 && !TryMakeRoom(over, needs))
        {
            return false;
        }

        var now = ++_clock;
        foreach (var value in needs)
        {
            if (!_held.TryGetValue(value, out var holding))
            {
                var bytes = value.HoldBytes();
                holding = new Holding();
                _held.Add(value, holding);
                Bytes += value.Size;
                SharedValueTable.Hold(value);
                (_toSend ??= []).Add((value.Hash, bytes, value.Size));
            }

            holding.LastUse = now;
        }

        return true;
    }

    /// <summary>A task that refers to <paramref name="values"/> was sent to the worker (after <see cref="TryPrepare"/>).</summary>
    public void TaskPlaced(SharedValue[] values)
    {
        foreach (var value in values)
        {
            _held[value].InFlight++;
        }
    }

    /// <summary>A task that referred to <paramref name="values"/> ended on the worker.</summary>
    public void TaskEnded(SharedValue[] values)
    {
        foreach (var value in values)
        {
            if (_held.TryGetValue(value, out var holding))
            {
                holding.InFlight--;
            }
        }
    }

    /// <summary>
    /// What to drop and what to send, in that order, before the batch just prepared; taken. Each value sent comes with a
    /// hold on its bytes, which its sender releases.
    /// </summary>
    public (List<ValueHash>? Drop, List<(ValueHash Hash, RentedBuffer Bytes, int Size)>? Send) TakeTransfers()
    {
        var transfers = (_toDrop, _toSend);
        _toDrop = null;
        _toSend = null;
        return transfers;
    }

    /// <summary>
    /// Plans the dropping of <paramref name="value"/>, which nothing refers to any more, if the worker holds it and no task
    /// in flight there needs it (one that does is dropped when the budget needs its room); true when it was planned.
    /// </summary>
    public bool Drop(SharedValue value)
    {
        if (!_held.TryGetValue(value, out var holding) || holding.InFlight > 0)
        {
            return false;
        }

        Forget(value);
        return true;
    }

    /// <summary>What to drop, planned outside a batch's preparation (<see cref="Drop"/>); taken. Null for none.</summary>
    public List<ValueHash>? TakeDrops()
    {
        var drop = _toDrop;
        _toDrop = null;
        return drop;
    }

    /// <summary>The worker's task stream ended (its executor died, or the worker is gone): it holds nothing any more.</summary>
    public void Clear()
    {
        foreach (var value in _held.Keys)
        {
            table.Unhold(value);
        }

        _held.Clear();
        Bytes = 0;
        foreach (var (_, bytes, _) in _toSend ?? [])
        {
            bytes.Release();
        }

        _toSend = null;
        _toDrop = null;
    }

    private bool TryMakeRoom(long over, IReadOnlyList<SharedValue> needs)
    {
        var victims = _held
            .Where(pair => pair.Value.InFlight == 0 && !needs.Contains(pair.Key))
            .OrderBy(pair => pair.Key.Calls > 0)
            .ThenBy(pair => pair.Value.LastUse)
            .Select(pair => pair.Key)
            .ToList();
        long freed = 0;
        var count = 0;
        while (freed < over && count < victims.Count)
        {
            freed += victims[count++].Size;
        }

        if (freed < over)
        {
            return false;
        }

        foreach (var victim in victims.Take(count))
        {
            Forget(victim);
        }

        return true;
    }

    private void Forget(SharedValue value)
    {
        _held.Remove(value);
        Bytes -= value.Size;
        (_toDrop ??= []).Add(value.Hash);
        table.Unhold(value);
    }

    private sealed class Holding
    {
        /// <summary>Tasks in flight on the worker that refer to the value.</summary>
        public int InFlight { get; set; }

        public long LastUse { get; set; }
    }
}
