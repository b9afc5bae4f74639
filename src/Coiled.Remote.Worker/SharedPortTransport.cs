using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Worker;

/// <summary>
/// Kestrel's transport for the worker's one port: it binds the TCP socket itself and hands Kestrel only the
/// connections that are HTTP/2 (or TLS), while bulk-data connections go to the <see cref="BulkListener"/> and direct
/// routes' connections to their executors. Firewalls
/// and security groups then open one port per worker, and workers on adjacent ports never collide.
/// </summary>
/// <param name="bulk">Where bulk-data connections go.</param>
/// <param name="routes">Where direct routes' connections go; null when the worker offers none.</param>
/// <param name="limit">The places for connections that every accepted connection takes.</param>
/// <param name="loggerFactory">Where the transport logs.</param>
/// <param name="time">The clock of the deadline by which a connection must say what it is.</param>
internal sealed class SharedPortTransport(BulkListener bulk, Executors.DirectRouteTable? routes, ConnectionLimit limit, ILoggerFactory loggerFactory, TimeProvider time) : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint;

    /// <exception cref="WorkerListenException">Another process holds the port, or the address cannot be listened on.</exception>
    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
        => ValueTask.FromResult<IConnectionListener>(SharedPortListener.Bind((IPEndPoint)endpoint, bulk, routes, limit, loggerFactory, time));
}
