namespace Coiled.Remote.Sharing;

/// <summary>
/// Which shared values the items of one argument chunk refer to, as runs of consecutive items that refer to the same
/// value, and how many bytes their references stand for. Made by the chunk's builder, then read under the scheduler's
/// lock, which also swaps each value for the cluster's own (<see cref="Intern"/>).
/// </summary>
internal sealed class ChunkShares
{
    private readonly List<Run> _runs = [];
    private readonly Dictionary<SharedValue, int> _lastRun = new(ReferenceEqualityComparer.Instance);

    /// <summary>Bytes the items' references stand for, added up to the end of each item.</summary>
    private readonly List<long> _replacedEnds;

    /// <summary>Runs before this one end before every item still to be taken (items are taken in order).</summary>
    private int _firstLive;

    /// <param name="itemsBefore">Items of the chunk that came before the first that refers to a shared value.</param>
    public ChunkShares(int itemsBefore) => _replacedEnds = [.. Enumerable.Repeat(0L, itemsBefore)];

    /// <summary>Adds the chunk's next item, which refers to <paramref name="values"/> and stands for <paramref name="replacedBytes"/> more.</summary>
    public void Add(IReadOnlyList<SharedValue> values, long replacedBytes)
    {
        var item = _replacedEnds.Count;
        foreach (var value in values)
        {
            if (_lastRun.TryGetValue(value, out var last) && _runs[last].Last == item - 1)
            {
                _runs[last] = _runs[last] with { Last = item };
            }
            else
            {
                _lastRun[value] = _runs.Count;
                _runs.Add(new Run(value, item, item));
            }
        }

        _replacedEnds.Add((_replacedEnds.Count == 0 ? 0 : _replacedEnds[^1]) + replacedBytes);
    }

    /// <summary>The first value whose <see cref="Shared{T}"/> handles were disposed since the items were written; null for none (scheduler lock).</summary>
    public SharedValue? FirstWithdrawn() => _runs.Find(run => run.Value.Withdrawn).Value;

    /// <summary>Swaps each value for the table's value of its hash, and counts the items that refer to each as the call's (scheduler lock).</summary>
    public void Intern(SharedValueTable table, CallShares call)
    {
        for (var i = 0; i < _runs.Count; i++)
        {
            var run = _runs[i];
            var value = table.Intern(run.Value);
            _runs[i] = run with { Value = value };
            call.Refer(value, run.Last - run.First + 1);
        }

        _lastRun.Clear();
    }

    /// <summary>
    /// Per item of [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>), the values it refers to,
    /// null for none; consecutive items that refer to the same values share one array (scheduler lock).
    /// </summary>
    public SharedValue[]?[] ValuesOfEach(int start, int count)
    {
        var each = new SharedValue[]?[count];
        for (var i = 0; i < count; i++)
        {
            var values = ValuesOf(start + i, 1);
            each[i] = i > 0 && values is not null && each[i - 1] is { } previous && previous.AsSpan().SequenceEqual(values) ? previous : values;
        }

        return each;
    }

    /// <summary>The values items [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>) refer to; null for none (scheduler lock).</summary>
    public SharedValue[]? ValuesOf(int start, int count)
    {
        while (_firstLive < _runs.Count && _runs[_firstLive].Last < start)
        {
            _firstLive++;
        }

        List<SharedValue>? values = null;
        var end = start + count;
        for (var i = _firstLive; i < _runs.Count && _runs[i].First < end; i++)
        {
            var run = _runs[i];
            if (run.Last >= start && !(values ??= []).Contains(run.Value))
            {
                values.Add(run.Value);
            }
        }

        return values?.ToArray();
    }

    /// <summary>Bytes the references of items [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>) stand for.</summary>
    public long ReplacedBytes(int start, int count)
        => _replacedEnds[start + count - 1] - (start == 0 ? 0 : _replacedEnds[start - 1]);

    private readonly record struct Run(SharedValue Value, int First, int Last);
}
