using System.Globalization;

namespace Coiled.Remote.Transport.Protocol;

/// <summary>What the cloud said about a worker's machine (the generated message, with its time as both sides print it).</summary>
internal sealed partial class MachineNotice
{
    /// <summary>The notice's time, UTC.</summary>
    public DateTimeOffset Time => DateTimeOffset.FromUnixTimeMilliseconds(TimeUnixMilliseconds);

    /// <summary>The notice's time as the logs print it: <c>2026-12-01T12:00:00Z</c>.</summary>
    public string TimeText => Time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
