using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Text;
using Coiled.Remote.Transport;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Worker;

/// <summary>
/// The worker's bulk-data listener: a plain socket (TLS with the worker's certificate when it has one) that receives
/// large task arguments straight into the array the task will read, with no HTTP framing and no intermediate buffer.
/// After the client proves it holds the cluster token, each frame is a blob handed to <see cref="BulkStore"/> for the
/// task batch that names it. On Linux, a worker without TLS also listens on an abstract Unix socket (no file to clean
/// up), which clients on the same machine use to skip the TCP stack.
/// </summary>
internal sealed class BulkListener : IAsyncDisposable
{
    /// <summary>A connection must present the token within this time of connecting.</summary>
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket _tcp;
    private readonly Socket? _local;
    private readonly WorkerRuntime _runtime;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<Socket, Task> _connections = new();
    private readonly Task _accepting;

    private BulkListener(Socket tcp, Socket? local, string? localName, WorkerRuntime runtime, ILogger logger)
    {
        _tcp = tcp;
        _local = local;
        _runtime = runtime;
        _logger = logger;
        Port = ((IPEndPoint)tcp.LocalEndPoint!).Port;
        LocalName = localName;
        _accepting = Task.WhenAll(Task.Run(() => AcceptAsync(tcp)), local is null ? Task.CompletedTask : Task.Run(() => AcceptAsync(local)));
    }

    /// <summary>The TCP port the listener is bound to.</summary>
    public int Port { get; }

    /// <summary>The abstract Unix socket's name (without the leading NUL), or null when there is none.</summary>
    public string? LocalName { get; }

    /// <summary>Binds <paramref name="endpoint"/> (and, on Linux without TLS, an abstract Unix socket) and starts accepting connections.</summary>
    public static BulkListener Start(IPEndPoint endpoint, WorkerRuntime runtime, ILogger logger)
    {
        var tcp = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endpoint.AddressFamily == AddressFamily.InterNetworkV6 && endpoint.Address.Equals(IPAddress.IPv6Any))
            {
                tcp.DualMode = true;
            }

            tcp.Bind(endpoint);
            tcp.Listen(64);
        }
        catch (SocketException ex)
        {
            tcp.Dispose();
            throw new IOException($"The worker could not listen for bulk data on {endpoint}: {ex.Message}", ex);
        }

        var (local, localName) = runtime.Options.Certificate is null && OperatingSystem.IsLinux() ? BindLocal(runtime, logger) : (null, null);
        return new BulkListener(tcp, local, localName, runtime, logger);
    }

    /// <summary>The abstract Unix socket for clients on this machine; none if it cannot be bound (TCP still serves them).</summary>
    private static (Socket? Socket, string? Name) BindLocal(WorkerRuntime runtime, ILogger logger)
    {
        var name = $"coiled-remote-bulk-{runtime.WorkerId}-{Environment.ProcessId}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}";
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(BulkFrame.LocalEndPoint(name));
            socket.Listen(64);
            return (socket, name);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            logger.LogDebug("Worker {WorkerId} offers bulk data over TCP only: no abstract Unix socket ({Reason})", runtime.WorkerId, ex.Message);
            return (null, null);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        _stop.Cancel();
        _tcp.Dispose();
        _local?.Dispose();
        await _accepting.ConfigureAwait(false);
        foreach (var connection in _connections.Keys)
        {
            connection.Dispose();
        }

        await Task.WhenAll(_connections.Values).ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task AcceptAsync(Socket listener)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket connection;
            try
            {
                connection = await listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException || _stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException ex)
            {
                // A connection that failed while being accepted; the listener itself is fine.
                _logger.LogDebug("Worker {WorkerId} could not accept a bulk-data connection: {Reason}", _runtime.WorkerId, ex.Message);
                continue;
            }

            if (connection.ProtocolType == ProtocolType.Tcp)
            {
                connection.NoDelay = true;
            }

            // Result blobs go back on this connection: with the default buffer (about 200 KiB) a 100 MB result stops
            // and waits for the client to read some 500 times, each a wake-up of both processes. The client's side
            // uses the same size for arguments.
            connection.SendBufferSize = 4 * 1024 * 1024;

            var serving = Task.Run(() => ServeAsync(connection));
            _connections[connection] = serving;
            _ = serving.ContinueWith(_ => _connections.TryRemove(connection, out Task? _), TaskScheduler.Default);
        }
    }

    private async Task ServeAsync(Socket connection)
    {
        var remote = connection.RemoteEndPoint;
        Stream stream = new NetworkStream(connection, ownsSocket: true);
        ResultSink? sink = null;
        ulong channel = 0;
        try
        {
            using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
            {
                handshake.CancelAfter(HandshakeTimeout);
                if (_runtime.Options.Certificate is { } certificate)
                {
                    var tls = new SslStream(stream, leaveInnerStreamOpen: false);
                    stream = tls;
                    await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = certificate }, handshake.Token).ConfigureAwait(false);
                }

                if (!await AuthenticateAsync(stream, handshake.Token).ConfigureAwait(false))
                {
                    _logger.LogWarning("Worker {WorkerId} refused a bulk-data connection from {Remote}: wrong or missing token", _runtime.WorkerId, remote);
                    return;
                }

                var channelBytes = new byte[8];
                await stream.ReadExactlyAsync(channelBytes, handshake.Token).ConfigureAwait(false);
                channel = BinaryPrimitives.ReadUInt64LittleEndian(channelBytes);
            }

            if (channel != 0)
            {
                // The client's task stream that names this channel sends its large result batches back here.
                sink = new ResultSink(stream);
                _runtime.ResultChannels[channel] = sink;
            }

            // Each blob lands directly in the (pooled) array its tasks read their arguments from.
            while (await BulkFrame.ReadBlobAsync(stream, _runtime.Options.MaxResultBytes, _stop.Token).ConfigureAwait(false) is (var id, var blob))
            {
                _runtime.Bulk.Deliver(id, blob);
            }
        }
        catch (InvalidDataException ex)
        {
            _logger.LogWarning("Worker {WorkerId} closed a bulk-data connection from {Remote}: {Reason}", _runtime.WorkerId, remote, ex.Message);
        }
        catch (OperationCanceledException) when (!_stop.IsCancellationRequested)
        {
            _logger.LogWarning("Worker {WorkerId} closed a bulk-data connection from {Remote}: no token within {Seconds:0} s", _runtime.WorkerId, remote, HandshakeTimeout.TotalSeconds);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException or AuthenticationException)
        {
            // The client went away, failed its TLS handshake, or the worker is stopping.
        }
        finally
        {
            if (sink is not null)
            {
                _runtime.ResultChannels.TryRemove(KeyValuePair.Create(channel, sink));
                sink.Close();
            }

            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task<bool> AuthenticateAsync(Stream stream, CancellationToken cancellationToken)
    {
        var header = new byte[2];
        if (await stream.ReadAtLeastAsync(header, 2, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false) < 2)
        {
            return false;
        }

        var length = BinaryPrimitives.ReadUInt16LittleEndian(header);
        if (length > BulkFrame.MaxTokenBytes)
        {
            return false;
        }

        var token = new byte[length];
        if (await stream.ReadAtLeastAsync(token, length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false) < length)
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(token, Encoding.UTF8.GetBytes(_runtime.Options.Token));
    }
}
