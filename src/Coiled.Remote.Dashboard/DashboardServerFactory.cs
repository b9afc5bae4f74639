using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Dashboard;

/// <summary>What the client finds by name (<c>DashboardLoader</c>) to start dashboard servers; it needs a public parameterless constructor.</summary>
internal sealed class DashboardServerFactory : IDashboardServerFactory
{
    public async Task<IDashboardServer> StartAsync(DashboardBinding binding, IDashboardSource source, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
        => await DashboardServer.StartAsync(binding, source, loggerFactory, cancellationToken).ConfigureAwait(false);
}
