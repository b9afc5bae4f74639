namespace Coiled.Remote.Serialization;

/// <summary>
/// How deep, on this thread, the value being written is nested. MessagePack's writer keeps no depth of its own (its
/// security options guard reading only), so <see cref="GuardedFormatter{T}"/> counts here.
/// </summary>
internal static class WriteDepth
{
    [ThreadStatic]
    private static int _current;

    /// <summary>Enters one more level and returns the new depth.</summary>
    public static int Enter() => ++_current;

    /// <summary>Leaves the level entered last.</summary>
    public static void Leave() => _current--;
}
