using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Dashboard;

/// <summary>The dashboard server's log lines (event ids 4210-4219, next to the client's dashboard lines, 4200-4209).</summary>
internal static partial class DashboardServerLog
{
    [LoggerMessage(EventId = 4210, Level = LogLevel.Warning, Message = "The dashboard could not build its snapshot: {Message}")]
    public static partial void SnapshotFailed(this ILogger logger, Exception exception, string message);
}
