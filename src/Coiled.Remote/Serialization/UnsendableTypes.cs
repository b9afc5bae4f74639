namespace Coiled.Remote.Serialization;

/// <summary>
/// Types whose values mean nothing in another process, or would not arrive as they are, found where the analyzers
/// cannot see them (a member of a record, an item of a list): the same types the analyzers report in a [Remote]
/// method's signature (CR0004, CR0005), and exceptions. <see cref="RemoteResolver"/> refuses them with these reasons.
/// </summary>
internal static class UnsendableTypes
{
    /// <summary>Why a value of <paramref name="type"/> cannot travel, with what to pass instead; null when it can.</summary>
    public static string? Explain(Type type)
    {
        if (type == typeof(IntPtr) || type == typeof(UIntPtr))
        {
            return "a native-sized integer is a handle or address as often as a number, and means nothing in another process. " +
                "Declare a number as long, and pass the data a handle refers to instead of the handle.";
        }

        if (type == typeof(CancellationToken))
        {
            return "a CancellationToken belongs to the process that made it. Take one as the [Remote] method's last parameter: " +
                "the cluster supplies it, and cancels it when the call is cancelled.";
        }

        if (typeof(Stream).IsAssignableFrom(type))
        {
            return "a stream is open in the process that made it. Pass a byte[], or a path the worker can read, instead.";
        }

        if (typeof(Task).IsAssignableFrom(type) || type == typeof(ValueTask) || (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(ValueTask<>)))
        {
            return "a task runs in the process that started it. Await it and pass its result instead.";
        }

        if (typeof(Exception).IsAssignableFrom(type))
        {
            return "an exception would arrive without its stack trace, inner exceptions' types and data. Pass what you need of it " +
                "(its message, or its ToString()) as a string, or let the [Remote] method throw it: the call then fails with a RemoteException that carries all three.";
        }

        if (type.IsArray && type.GetArrayRank() > 4)
        {
            return $"arrays of more than 4 dimensions cannot travel. Pass it as a jagged array, or flattened into a one-dimensional array with its lengths.";
        }

        return null;
    }
}
