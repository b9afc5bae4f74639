using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Dashboard;

/// <summary>The dashboard's log lines (event ids 4200-4209; the dashboard server's are 4210-4219). None of them carries the token.</summary>
internal static partial class DashboardLog
{
    [LoggerMessage(EventId = 4200, Level = LogLevel.Information, Message = "Dashboard at {Uri}")]
    public static partial void DashboardStarted(this ILogger logger, Uri uri);

    [LoggerMessage(EventId = 4201, Level = LogLevel.Information, Message =
        "Dashboard at {Uri}; it listens beyond this machine, so it asks for the dashboard's token (made from the cluster token): open Cluster.DashboardUri, which carries it")]
    public static partial void DashboardStartedWithToken(this ILogger logger, Uri uri);

    [LoggerMessage(EventId = 4202, Level = LogLevel.Warning, Message =
        "No dashboard: the {Assembly} assembly is not in this application (it comes with the Coiled.Remote package); the cluster runs without one")]
    public static partial void DashboardAssemblyMissing(this ILogger logger, string assembly);

    [LoggerMessage(EventId = 4203, Level = LogLevel.Warning, Message =
        "No dashboard: it could not listen on {Address} ({Message}); choose another ClusterOptions.DashboardAddress, or port 0 for any free one")]
    public static partial void DashboardNotStarted(this ILogger logger, Exception exception, string address, string message);

    [LoggerMessage(EventId = 4204, Level = LogLevel.Debug, Message = "Dashboard port {Port} is taken; the dashboard listens on a free port")]
    public static partial void DashboardPortTaken(this ILogger logger, int port);
}
