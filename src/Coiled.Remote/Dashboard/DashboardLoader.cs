using System.Net;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Dashboard;

/// <summary>
/// Starts the cluster's dashboard through the Coiled.Remote.Dashboard assembly, which carries the web server.
/// This assembly keeps no reference to a web server (an application that turns the dashboard off, or trims it away,
/// loads none), so it finds that assembly by name at run time; the Coiled.Remote package brings it, and an application
/// without it gets a warning and no dashboard, never a failed cluster.
/// </summary>
internal static class DashboardLoader
{
    /// <summary>The port the dashboard takes when it is free, as Dask's does.</summary>
    public const int DefaultPort = 8787;

    internal const string AssemblyName = "Coiled.Remote.Dashboard";

    private const string FactoryTypeName = "Coiled.Remote.Dashboard.DashboardServerFactory, " + AssemblyName;

    /// <summary>
    /// Starts the dashboard for <paramref name="source"/>; null when the dashboard assembly is missing or its address
    /// could not be bound, each said in a warning. On the default address a taken port 8787 gives way to a free one.
    /// </summary>
    public static Task<IDashboardServer?> StartAsync(
        IPEndPoint? address, string token, IDashboardSource source, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
        => StartAsync(FindFactory(), address, token, source, loggerFactory, cancellationToken);

    /// <summary>Starts the dashboard through <paramref name="factory"/>; null for a missing dashboard assembly.</summary>
    internal static async Task<IDashboardServer?> StartAsync(
        IDashboardServerFactory? factory, IPEndPoint? address, string token, IDashboardSource source, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        var logger = loggerFactory.CreateLogger(typeof(DashboardLoader).FullName!);
        if (factory is null)
        {
            logger.DashboardAssemblyMissing(AssemblyName);
            return null;
        }

        var requested = address ?? new IPEndPoint(IPAddress.Loopback, DefaultPort);
        var binding = new DashboardBinding(requested, IPAddress.IsLoopback(requested.Address) ? null : token);
        try
        {
            return await factory.StartAsync(binding, source, loggerFactory, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException) when (address is null)
        {
            logger.DashboardPortTaken(DefaultPort);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A dashboard that cannot start is worth a warning, not a cluster that does not start.
            logger.DashboardNotStarted(ex, requested.ToString(), ex.Message);
            return null;
        }

        var free = new DashboardBinding(new IPEndPoint(IPAddress.Loopback, 0), null);
        try
        {
            return await factory.StartAsync(free, source, loggerFactory, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.DashboardNotStarted(ex, free.Address.ToString(), ex.Message);
            return null;
        }
    }

    /// <summary>The dashboard assembly's factory, or null when the assembly is not in this application.</summary>
    internal static IDashboardServerFactory? FindFactory()
        => Type.GetType(FactoryTypeName, throwOnError: false) is { } type ? (IDashboardServerFactory)Activator.CreateInstance(type)! : null;
}
