using System.Net;

namespace Coiled.Remote.Worker;

/// <summary>
/// The most connections a worker holds at once, whatever they turn out to be: those still saying what they are, gRPC
/// connections, and bulk-data connections (on the worker's port or its local socket). A connection over the limit is
/// closed as soon as it is accepted, and the refusal is logged through <see cref="RefusalLog"/>, so that open sockets
/// cannot exhaust the worker's file descriptors and memory.
/// </summary>
/// <param name="max">The most connections at once.</param>
/// <param name="refusals">Where refusals are counted and, now and then, logged.</param>
internal sealed class ConnectionLimit(int max, RefusalLog refusals)
{
    /// <summary>The default of <c>--max-connections</c>.</summary>
    public const int DefaultMax = 1000;

    private int _count;

    /// <summary>Connections holding a place now.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Takes a place for a connection just accepted from <paramref name="remote"/>; false, and the refusal logged, when every place is taken.</summary>
    /// <param name="remote">The peer's address, or null for one on this machine (the local socket).</param>
    public bool TryTake(IPAddress? remote)
    {
        if (Interlocked.Increment(ref _count) <= max)
        {
            return true;
        }

        Interlocked.Decrement(ref _count);
        refusals.Refused(remote, "connection(s)", $"the worker already holds {max:N0} connections, its limit (coiled-remote-worker --max-connections); the connection was closed at once");
        return false;
    }

    /// <summary>Gives back the place of a connection that ended; call exactly once for each <see cref="TryTake"/> that returned true.</summary>
    public void Release() => Interlocked.Decrement(ref _count);
}
