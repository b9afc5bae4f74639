namespace Coiled.Remote.Sharing;

/// <summary>
/// The cluster's shared values by hash: one <see cref="SharedValue"/> per hash, whichever call made it, kept while a
/// running call refers to it or a worker holds it. The scheduler's state, touched only under its lock.
/// </summary>
internal sealed class SharedValueTable
{
    private readonly Dictionary<ValueHash, SharedValue> _values = [];

    /// <summary>Values known: referred to by a running call or held by a worker.</summary>
    public int Count => _values.Count;

    /// <summary>The table's value of <paramref name="value"/>'s hash: <paramref name="value"/> itself when it is new.</summary>
    public SharedValue Intern(SharedValue value)
    {
        if (_values.TryGetValue(value.Hash, out var known))
        {
            // A call that ended let go of the bytes; the workers that hold it keep their copy, others get these.
            known.Absorb(value);
            return known;
        }

        _values.Add(value.Hash, value);
        return value;
    }

    /// <summary>A running call refers to the value from now on.</summary>
    public static void AddCall(SharedValue value) => value.Calls++;

    /// <summary>A call (or a handle) that referred to the value ended; the last one lets go of its bytes, and is told so (true).</summary>
    public bool EndCall(SharedValue value)
    {
        if (--value.Calls != 0)
        {
            return false;
        }

        value.DropBytes();
        ForgetIfUnused(value);
        return true;
    }

    /// <summary>A worker holds the value from now on.</summary>
    public static void Hold(SharedValue value) => value.Holders++;

    /// <summary>A worker dropped the value, or is gone.</summary>
    public void Unhold(SharedValue value)
    {
        value.Holders--;
        ForgetIfUnused(value);
    }

    private void ForgetIfUnused(SharedValue value)
    {
        if (value.Calls == 0 && value.Holders == 0)
        {
            _values.Remove(value.Hash);
        }
    }
}
