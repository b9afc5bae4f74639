using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Coiled.Remote.Transport;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Worker;

/// <summary>
/// The worker's listening socket. Each accepted connection is routed on how it opens, which it peeks without
/// consuming: the bulk-data preamble's NUL goes to the <see cref="BulkListener"/> with the socket itself (so blobs are
/// still read straight into their arrays); a direct route's opening (<see cref="DirectRoute"/>) goes, socket and all,
/// to the executor process its ticket names, and leaves this process; the whole cleartext HTTP/2 client preface, or a whole TLS record header,
/// makes a Kestrel connection through <see cref="SocketConnectionContextFactory"/>, as Kestrel's own socket transport
/// would make it; anything else, or too little within <see cref="RoutingTimeout"/>, is closed. Kestrel would hold a
/// connection that never finishes its preface for minutes, so connections that say nothing useful must not reach it.
/// Every accepted connection takes a place of the worker's <see cref="ConnectionLimit"/> until it ends, whatever it
/// turned out to be; one accepted when every place is taken is closed at once. Peeking polls instead of waiting
/// asynchronously: an asynchronous operation would register the socket with this process's socket engine, which would
/// then go on hearing of a connection handed to an executor.
/// </summary>
internal sealed class SharedPortListener : IConnectionListener
{
    /// <summary>A connection that has not said what it is within this time of connecting is closed.</summary>
    internal static readonly TimeSpan RoutingTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Most connections waiting to say what they are; more are closed at once, so that idle sockets cannot exhaust the worker.</summary>
    private const int MaxRouting = 256;

    /// <summary>Most of those from one address, so that one peer cannot take every place and lock the others out.</summary>
    internal const int MaxRoutingPerAddress = 32;

    /// <summary>A TLS record header: content type (22, handshake), version (3.x) and a two-byte length.</summary>
    private const int TlsRecordHeaderBytes = 5;

    /// <summary>How long to wait before peeking again at a connection that has sent only part of its opening; doubled up to <see cref="LongestPause"/>.</summary>
    private static readonly TimeSpan FirstPause = TimeSpan.FromMilliseconds(1);

    private static readonly TimeSpan LongestPause = TimeSpan.FromMilliseconds(200);

    /// <summary>What every cleartext HTTP/2 connection opens with (RFC 9113, section 3.4).</summary>
    private static ReadOnlySpan<byte> Http2Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    private readonly Socket _socket;
    private readonly BulkListener _bulk;
    private readonly Executors.DirectRouteTable? _routes;
    private readonly ConnectionLimit _limit;
    private readonly ILogger _logger;
    private readonly SocketConnectionContextFactory _contexts;
    private readonly Channel<ConnectionContext> _http = Channel.CreateUnbounded<ConnectionContext>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<Socket, byte> _routing = new();
    private readonly Dictionary<IPAddress, int> _routingFrom = [];
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _unbound;

    private SharedPortListener(Socket socket, BulkListener bulk, Executors.DirectRouteTable? routes, ConnectionLimit limit, ILoggerFactory loggerFactory, TimeProvider time)
    {
        _socket = socket;
        _time = time;
        _bulk = bulk;
        _routes = routes;
        _limit = limit;
        _logger = loggerFactory.CreateLogger<SharedPortListener>();
        _contexts = new SocketConnectionContextFactory(new SocketConnectionFactoryOptions(), loggerFactory.CreateLogger<SocketConnectionContextFactory>());
        EndPoint = socket.LocalEndPoint!;
        _accepting = Task.Run(AcceptAsync);
    }

    public EndPoint EndPoint { get; }

    /// <summary>Binds and listens on <paramref name="endpoint"/>.</summary>
    /// <exception cref="WorkerListenException">Another process holds the port, or the address cannot be listened on.</exception>
    public static SharedPortListener Bind(IPEndPoint endpoint, BulkListener bulk, Executors.DirectRouteTable? routes, ConnectionLimit limit, ILoggerFactory loggerFactory, TimeProvider time)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endpoint.AddressFamily == AddressFamily.InterNetworkV6 && endpoint.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }

            socket.Bind(endpoint);
            socket.Listen(512);
            return new SharedPortListener(socket, bulk, routes, limit, loggerFactory, time);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new WorkerListenException(
                endpoint, ex.SocketErrorCode == SocketError.AddressAlreadyInUse ? $"{endpoint} is in use" : $"cannot listen on {endpoint}: {ex.Message}", ex);
        }
    }

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            while (await _http.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                if (_http.Reader.TryRead(out var connection))
                {
                    return connection;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Kestrel stopped accepting.
        }

        return null;
    }

    public async ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _unbound, 1) != 0)
        {
            return;
        }

        _stop.Cancel();
        _socket.Dispose();
        await _accepting.ConfigureAwait(false);
        foreach (var socket in _routing.Keys)
        {
            socket.Dispose();
        }

        _http.Writer.TryComplete();
    }

    public async ValueTask DisposeAsync()
    {
        await UnbindAsync().ConfigureAwait(false);
        while (_http.Reader.TryRead(out var connection))
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }

        _contexts.Dispose();
        _stop.Dispose();
    }

    /// <summary>Where a connection that opened with <paramref name="seen"/> goes, or <see cref="Route.Wait"/> when it has not said enough yet.</summary>
    internal static Route Classify(ReadOnlySpan<byte> seen)
    {
        if (seen.IsEmpty)
        {
            return Route.Wait;
        }

        if (BulkFrame.StartsBulk(seen[0]))
        {
            return Route.Bulk;
        }

        if (seen[0] == DirectRoute.Opening)
        {
            return seen.Length >= DirectRoute.OpeningBytes ? Route.Direct : Route.Wait;
        }

        if (seen[0] == 0x16)
        {
            return seen.Length >= 2 && seen[1] != 0x03 ? Route.Refuse
                : seen.Length >= TlsRecordHeaderBytes ? Route.Http
                : Route.Wait;
        }

        var compared = Math.Min(seen.Length, Http2Preface.Length);
        return !seen[..compared].SequenceEqual(Http2Preface[..compared]) ? Route.Refuse
            : compared == Http2Preface.Length ? Route.Http
            : Route.Wait;
    }

    private async Task AcceptAsync()
    {
        while (await SocketAccepting.NextAsync(_socket, _logger, "a connection", _stop.Token).ConfigureAwait(false) is { } connection)
        {
            var from = (connection.RemoteEndPoint as IPEndPoint)?.Address ?? IPAddress.None;
            if (!_limit.TryTake(from))
            {
                connection.Dispose();
                continue;
            }

            if (_routing.Count >= MaxRouting)
            {
                _logger.TooManyRouting(connection.RemoteEndPoint, MaxRouting);
                Close(connection);
                continue;
            }

            lock (_routingFrom)
            {
                var waiting = _routingFrom.GetValueOrDefault(from);
                if (waiting >= MaxRoutingPerAddress)
                {
                    _logger.TooManyRoutingFromAddress(connection.RemoteEndPoint, waiting);
                    Close(connection);
                    continue;
                }

                _routingFrom[from] = waiting + 1;
            }

            connection.NoDelay = true;
            _routing[connection] = 0;
            _ = RouteAsync(connection, from);
        }
    }

    /// <summary>Peeks, without consuming, at how the connection opens until that says where it goes, and hands it there.</summary>
    private async Task RouteAsync(Socket connection, IPAddress from)
    {
        var seen = new byte[Http2Preface.Length];
        Route route;
        try
        {
            using var deadline = new CancellationTokenSource(RoutingTimeout, _time);
            using var routing = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, _stop.Token);
            var pause = FirstPause;
            while (true)
            {
                // Readable: something arrived, or the peer closed (a peek of nothing).
                if (connection.Poll(0, SelectMode.SelectRead))
                {
                    var count = connection.Receive(seen, SocketFlags.Peek);
                    route = count == 0 ? Route.Refuse : Classify(seen.AsSpan(0, count));
                    if (route != Route.Wait)
                    {
                        break;
                    }
                }

                // Real time between polls; the deadline is on the listener's clock.
                await Task.Delay(pause, TimeProvider.System, routing.Token).ConfigureAwait(false);
                pause = pause * 2 < LongestPause ? pause * 2 : LongestPause;
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Too slow to say what it is, gone, or the worker is stopping.
            route = Route.Refuse;
        }
        finally
        {
            _routing.TryRemove(connection, out _);
            lock (_routingFrom)
            {
                if (--CollectionsMarshal.GetValueRefOrNullRef(_routingFrom, from) == 0)
                {
                    _routingFrom.Remove(from);
                }
            }
        }

        // Whoever the connection is handed to gives its place back when it ends; until then, this method does.
        var handedOver = false;
        try
        {
            if (route == Route.Direct)
            {
                HandOff(connection);
            }
            else if (route == Route.Bulk)
            {
                _bulk.Serve(connection, _limit);
                handedOver = true;
            }
            else if (route == Route.Http && !_stop.IsCancellationRequested)
            {
                var context = _contexts.Create(connection);
                var placed = 1;
                context.ConnectionClosed.Register(() =>
                {
                    if (Interlocked.Exchange(ref placed, 0) == 1)
                    {
                        _limit.Release();
                    }
                });
                handedOver = true;
                if (!_http.Writer.TryWrite(context))
                {
                    await context.DisposeAsync().ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is ObjectDisposedException or SocketException or InvalidOperationException)
        {
            // The worker stopped while the connection was being handed over.
            connection.Dispose();
        }
        finally
        {
            if (!handedOver)
            {
                Close(connection);
            }
        }
    }

    /// <summary>
    /// Reads a direct route's opening and hands the connection to the executor of its ticket; this process's copy is
    /// closed after, either way. A connection without a valid ticket is closed unanswered.
    /// </summary>
    private void HandOff(Socket connection)
    {
        var opening = new byte[DirectRoute.OpeningBytes];
        var read = 0;
        while (read < opening.Length)
        {
            // All of it was seen by the peek, so this does not wait.
            var n = connection.Receive(opening.AsSpan(read));
            if (n == 0)
            {
                return;
            }

            read += n;
        }

        if (_routes?.TryHandOff(opening.AsSpan(1), connection) != true)
        {
            _logger.DirectRouteWithoutTicket(connection.RemoteEndPoint);
        }
    }

    /// <summary>Closes a connection that goes nowhere and gives its place back.</summary>
    private void Close(Socket connection)
    {
        connection.Dispose();
        _limit.Release();
    }

    /// <summary>Where an accepted connection goes.</summary>
    internal enum Route
    {
        /// <summary>It has not said enough yet.</summary>
        Wait,

        /// <summary>To the <see cref="BulkListener"/>.</summary>
        Bulk,

        /// <summary>To an executor process: a direct route's connection.</summary>
        Direct,

        /// <summary>To Kestrel: HTTP/2, or TLS.</summary>
        Http,

        /// <summary>Closed: neither, or too slow to say.</summary>
        Refuse,
    }
}
