namespace Coiled.Remote.Sharing;

/// <summary>
/// The shared values one call's items refer to, each counting the call as one that refers to it
/// (<see cref="SharedValueTable.AddCall"/>). A map or a submit refers to them until it ends. A stream refers to each
/// only while items that pass it are queued or running, so that one that runs for as long as its source lasts holds
/// only the values of the items in its window. Touched only under the scheduler's lock.
/// </summary>
/// <param name="perItem">Whether the call lets go of a value once its items that refer to it ended (streams).</param>
internal sealed class CallShares(bool perItem)
{
    /// <summary>Per value, the call's items that refer to it and have not ended (counted for streams only).</summary>
    private readonly Dictionary<SharedValue, long> _values = new(ReferenceEqualityComparer.Instance);

    /// <summary><paramref name="items"/> more items of the call refer to <paramref name="value"/> (the table's own).</summary>
    public void Refer(SharedValue value, int items)
    {
        if (!_values.TryGetValue(value, out var count))
        {
            SharedValueTable.AddCall(value);
        }

        _values[value] = count + items;
    }

    /// <summary>
    /// An item that referred to <paramref name="values"/> ended; for a stream, the values no other item of it refers to
    /// any more are added to <paramref name="ended"/>, for the table to end the call's reference.
    /// </summary>
    public void ItemEnded(SharedValue[] values, ref List<SharedValue>? ended)
    {
        if (!perItem)
        {
            return;
        }

        foreach (var value in values)
        {
            if (!_values.TryGetValue(value, out var count))
            {
                continue;
            }

            if (count > 1)
            {
                _values[value] = count - 1;
            }
            else
            {
                _values.Remove(value);
                (ended ??= []).Add(value);
            }
        }
    }

    /// <summary>Takes the values the call still refers to, once it ended.</summary>
    public List<SharedValue> TakeAll()
    {
        List<SharedValue> values = [.. _values.Keys];
        _values.Clear();
        return values;
    }
}
