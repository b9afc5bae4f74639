using Coiled.Remote.Dashboard;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote;

// The live dashboard: started together with the workers, so that it adds nothing to the time a cluster takes to start.
public sealed partial class Cluster
{
    /// <summary>
    /// Where the cluster's live dashboard is, e.g. <c>http://127.0.0.1:8787/</c>; null when <see cref="ClusterOptions.Dashboard"/>
    /// is false or it could not start (a warning in the log says why). When it listens beyond loopback
    /// (<see cref="ClusterOptions.DashboardAddress"/>), this carries the cluster token as <c>?token=</c>: share it
    /// only with whoever may watch the cluster.
    /// </summary>
    public Uri? DashboardUri { get; }

    /// <summary>The cluster token its workers ask for (tests compare the dashboard's token with it).</summary>
    internal string LaunchToken => _session.Launch.Token;

    /// <summary>Whether the cluster was disposed.</summary>
    internal bool IsClosed => Volatile.Read(ref _closedSummary) is not null;

    /// <summary>
    /// The dashboard's own token, made from the cluster token (HMAC-SHA256): a viewer who has it may watch the cluster,
    /// but cannot use it to reach the workers, which ask for the cluster token itself.
    /// </summary>
    internal static string ViewToken(string clusterToken)
        => Convert.ToHexStringLower(System.Security.Cryptography.HMACSHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes(clusterToken), "coiled-remote dashboard viewer"u8));

    /// <summary>Starts the dashboard's server in the background, while the workers start; null when it is off.</summary>
    private static (DashboardFeed? Feed, Task<IDashboardServer?> Server) StartDashboard(ClusterOptions options, IClusterBackend backend, string token, ILoggerFactory loggerFactory)
    {
        if (!options.Dashboard)
        {
            return (null, Task.FromResult<IDashboardServer?>(null));
        }

        var feed = new DashboardFeed(new DashboardRecorder(options.TimeProvider), backend.Name);
        var viewToken = ViewToken(token);
        return (feed, Task.Run(() => DashboardLoader.StartAsync(options.DashboardAddress, viewToken, feed, loggerFactory, CancellationToken.None)));
    }

    /// <summary>The page's address, with the token when the server asks for one; logged (without the token).</summary>
    private static Uri? DashboardAddress(IDashboardServer? server, string token, ILogger logger)
    {
        if (server is null)
        {
            return null;
        }

        if (!server.RequiresToken)
        {
            logger.DashboardStarted(server.Uri);
            return server.Uri;
        }

        logger.DashboardStartedWithToken(server.Uri);
        return new UriBuilder(server.Uri) { Query = "token=" + Uri.EscapeDataString(ViewToken(token)) }.Uri;
    }

    /// <summary>A start that failed stops the dashboard's server too, once it is up.</summary>
    private static async Task StopDashboardAsync(Task<IDashboardServer?> starting)
    {
        if (await starting.ConfigureAwait(false) is { } server)
        {
            await server.DisposeAsync().ConfigureAwait(false);
        }
    }
}
