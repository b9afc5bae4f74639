namespace Coiled.Remote;

/// <summary>How one item of <c>MapOutcomesAsync</c> ended: its result, or the exception that ended it.</summary>
/// <typeparam name="T">The method's result type.</typeparam>
public readonly record struct ItemOutcome<T>
{
    /// <summary>An item that returned <paramref name="value"/>.</summary>
    public ItemOutcome(T value)
    {
        Value = value;
        Error = null;
    }

    /// <summary>An item that failed with <paramref name="error"/>.</summary>
    public ItemOutcome(Exception error)
    {
        ArgumentNullException.ThrowIfNull(error);
        Value = default;
        Error = error;
    }

    /// <summary>The result; <see langword="default"/> when the item failed.</summary>
    public T? Value { get; }

    /// <summary>
    /// Why the item failed: <see cref="RemoteException"/> (the method threw), <see cref="WorkerLostException"/> (it
    /// killed its workers), <see cref="EnvironmentSyncException"/>; null when it succeeded.
    /// </summary>
    public Exception? Error { get; }

    /// <summary>Whether the item returned a result.</summary>
    public bool Succeeded => Error is null;

    /// <summary>The result, or the item's exception thrown.</summary>
    public T GetValueOrThrow() => Error is null ? Value! : throw Error;
}
