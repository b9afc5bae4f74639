using System.Runtime.CompilerServices;

namespace Coiled.Remote.Sharing;

/// <summary>
/// The argument objects of at least <see cref="Transport.WireLimits.MinSharedValueBytes"/> that a cluster's calls have
/// passed, held weakly: one that comes again in a later call is shared from its first item there on.
/// </summary>
internal sealed class RepeatedArguments
{
    private static readonly object Seen = new();
    private readonly ConditionalWeakTable<object, object> _seen = [];

    /// <summary>Whether an earlier call passed <paramref name="value"/>; remembers it otherwise.</summary>
    public bool SeenBefore(object value) => !_seen.TryAdd(value, Seen);
}
