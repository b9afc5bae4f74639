using System.Globalization;

namespace Coiled.Remote.Benchmarks;

/// <summary>One garbage collection a load-test worker process saw, as a line of its log.</summary>
/// <param name="UnixMs">When the process saw it (after the pause), in milliseconds since 1970 UTC.</param>
/// <param name="Generation">The generation collected.</param>
/// <param name="PauseMs">How long it paused the process.</param>
/// <param name="HeapBytes">The heap size the collection reported.</param>
/// <param name="AliveBytes">The bytes it found alive.</param>
internal sealed record CollectionEvent(long UnixMs, int Generation, double PauseMs, long HeapBytes, long AliveBytes)
{
    public string ToLine() => string.Create(CultureInfo.InvariantCulture, $"{UnixMs} {Generation} {PauseMs:F0} {HeapBytes} {AliveBytes}");

    /// <summary>Reads a line of the log; false for one the process did not finish writing (it was killed meanwhile).</summary>
    public static bool TryParse(string line, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out CollectionEvent? collection)
    {
        var parts = line.Split(' ');
        if (parts.Length == 5
            && long.TryParse(parts[0], CultureInfo.InvariantCulture, out var unixMs)
            && int.TryParse(parts[1], CultureInfo.InvariantCulture, out var generation)
            && double.TryParse(parts[2], CultureInfo.InvariantCulture, out var pauseMs)
            && long.TryParse(parts[3], CultureInfo.InvariantCulture, out var heap)
            && long.TryParse(parts[4], CultureInfo.InvariantCulture, out var alive))
        {
            collection = new CollectionEvent(unixMs, generation, pauseMs, heap, alive);
            return true;
        }

        collection = null;
        return false;
    }
}
