using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Dashboard;

/// <summary>
/// Starts dashboard servers. Implemented by the Coiled.Remote.Dashboard assembly, which carries the web server, and
/// found at run time by <see cref="DashboardLoader"/>, so that this assembly references no web server.
/// </summary>
internal interface IDashboardServerFactory
{
    /// <summary>Starts a server for <paramref name="source"/>'s page where <paramref name="binding"/> says.</summary>
    /// <exception cref="IOException">The address could not be bound (its port is taken).</exception>
    Task<IDashboardServer> StartAsync(DashboardBinding binding, IDashboardSource source, ILoggerFactory loggerFactory, CancellationToken cancellationToken);
}
