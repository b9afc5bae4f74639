using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Coiled.Remote.Transport;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Worker;

/// <summary>
/// The worker's listening socket. Each accepted connection is routed on its first byte, which it peeks without
/// consuming: the bulk-data preamble's NUL goes to the <see cref="BulkListener"/> with the socket itself (so blobs are
/// still read straight into their arrays), anything else (an HTTP/2 preface, a TLS handshake) becomes a Kestrel
/// connection through <see cref="SocketConnectionContextFactory"/>, as Kestrel's own socket transport would make it.
/// </summary>
internal sealed class SharedPortListener : IConnectionListener
{
    /// <summary>A connection that sends nothing within this time of connecting is closed.</summary>
    private static readonly TimeSpan FirstByteTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Most connections waiting for their first byte; more are closed at once, so that idle sockets cannot exhaust the worker.</summary>
    private const int MaxRouting = 256;

    private readonly Socket _socket;
    private readonly BulkListener _bulk;
    private readonly ILogger _logger;
    private readonly SocketConnectionContextFactory _contexts;
    private readonly Channel<ConnectionContext> _http = Channel.CreateUnbounded<ConnectionContext>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<Socket, byte> _routing = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _unbound;

    private SharedPortListener(Socket socket, BulkListener bulk, ILoggerFactory loggerFactory)
    {
        _socket = socket;
        _bulk = bulk;
        _logger = loggerFactory.CreateLogger<SharedPortListener>();
        _contexts = new SocketConnectionContextFactory(new SocketConnectionFactoryOptions(), loggerFactory.CreateLogger<SocketConnectionContextFactory>());
        EndPoint = socket.LocalEndPoint!;
        _accepting = Task.Run(AcceptAsync);
    }

    public EndPoint EndPoint { get; }

    /// <summary>Binds and listens on <paramref name="endpoint"/>.</summary>
    /// <exception cref="WorkerListenException">Another process holds the port, or the address cannot be listened on.</exception>
    public static SharedPortListener Bind(IPEndPoint endpoint, BulkListener bulk, ILoggerFactory loggerFactory)
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
            return new SharedPortListener(socket, bulk, loggerFactory);
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

    private async Task AcceptAsync()
    {
        while (await SocketAccepting.NextAsync(_socket, _logger, "a connection", _stop.Token).ConfigureAwait(false) is { } connection)
        {
            if (_routing.Count >= MaxRouting)
            {
                _logger.LogDebug("The worker closed a connection from {Remote}: {Count} connections are already waiting to say what they are", connection.RemoteEndPoint, MaxRouting);
                connection.Dispose();
                continue;
            }

            connection.NoDelay = true;
            _routing[connection] = 0;
            _ = RouteAsync(connection);
        }
    }

    /// <summary>Waits for the connection's first byte without consuming it, and hands the connection to its protocol.</summary>
    private async Task RouteAsync(Socket connection)
    {
        var first = new byte[1];
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            timeout.CancelAfter(FirstByteTimeout);
            if (await connection.ReceiveAsync(first, SocketFlags.Peek, timeout.Token).ConfigureAwait(false) == 0)
            {
                connection.Dispose();
                return;
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Silent for too long, gone, or the worker is stopping.
            connection.Dispose();
            return;
        }
        finally
        {
            _routing.TryRemove(connection, out _);
        }

        try
        {
            if (BulkFrame.StartsBulk(first[0]))
            {
                _bulk.Serve(connection);
            }
            else if (_stop.IsCancellationRequested)
            {
                connection.Dispose();
            }
            else
            {
                var context = _contexts.Create(connection);
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
    }
}
