using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Coiled.Remote.Security;

namespace Coiled.Remote.Transport;

/// <summary>
/// The client's side of a worker's bulk-data connection: a plain TCP stream (TLS with the pinned certificate when the
/// worker uses TLS) that carries large task arguments as raw bytes, and brings large result batches back the same way
/// (into <see cref="Results"/>). A worker on this machine is reached through its abstract Unix socket instead, when
/// it offers one. Opened by <see cref="ConnectAsync"/> or the first send, and again after a failure; one writer at a time.
/// </summary>
/// <param name="host">The worker's host.</param>
/// <param name="port">The worker's port, which gRPC and bulk data share.</param>
/// <param name="localName">The worker's abstract Unix socket name, or null.</param>
/// <param name="token">The cluster token.</param>
/// <param name="certificateThumbprint">The worker's pinned certificate, when it uses TLS.</param>
internal sealed class BulkChannel(string host, int port, string? localName, string token, string? certificateThumbprint) : IAsyncDisposable
{
    private readonly SemaphoreSlim _writer = new(1, 1);
    private Socket? _socket;
    private Stream? _stream;
    private Task _reading = Task.CompletedTask;

    /// <summary>A connection whose reader saw it end (the worker closed it); the next use opens a new one.</summary>
    private volatile Stream? _ended;

    /// <summary>The id the worker knows this connection by: OpenEnvironment.result_channel.</summary>
    public ulong Channel { get; } = BulkFrame.NewId();

    /// <summary>Result batches that arrived on this connection, waiting for the ResultBatch that names them.</summary>
    public BulkStore Results { get; } = new();

    /// <summary>Opens the connection now, if it is not open, so that results can come back on it.</summary>
    public async Task ConnectAsync(CancellationToken cancellationToken)
    {
        await _writer.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _ = await CurrentAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writer.Release();
        }
    }

    /// <summary>Sends one blob of arguments under a new id and returns that id.</summary>
    public async Task<ulong> SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var id = BulkFrame.NewId();
        await _writer.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var stream = await CurrentAsync(cancellationToken).ConfigureAwait(false);
            await BulkFrame.WriteBlobAsync(stream, id, data, activity: null, cancellationToken).ConfigureAwait(false);
            return id;
        }
        catch
        {
            // A broken connection is reopened for the next blob.
            await CloseAsync().ConfigureAwait(false);
            throw;
        }
        finally
        {
            _writer.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await CloseAsync().ConfigureAwait(false);
        await _reading.ConfigureAwait(false);
        _writer.Dispose();
    }

    /// <summary>Whether the last connection went through the worker's abstract Unix socket.</summary>
    public bool IsLocal { get; private set; }

    /// <summary>The open connection, or a new one when there is none or the worker closed it (writer lock).</summary>
    private async Task<Stream> CurrentAsync(CancellationToken cancellationToken)
    {
        if (_stream is not null && ReferenceEquals(_stream, _ended))
        {
            await CloseAsync().ConfigureAwait(false);
        }

        return _stream ?? await OpenAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<Stream> OpenAsync(CancellationToken cancellationToken)
    {
        // The previous connection's reader has failed the waits for its blobs before this one opens.
        await _reading.ConfigureAwait(false);
        var socket = await ConnectLocalAsync(cancellationToken).ConfigureAwait(false);
        IsLocal = socket is not null;
        if (socket is null)
        {
            socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, SendBufferSize = 4 * 1024 * 1024 };
            try
            {
                await socket.ConnectAsync(host, port, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        try
        {
            Stream stream = new NetworkStream(socket, ownsSocket: true);

            // The preamble goes in the clear: it tells the worker's port that this is bulk data, not gRPC.
            await stream.WriteAsync(BulkFrame.Preamble.ToArray(), cancellationToken).ConfigureAwait(false);
            if (certificateThumbprint is not null)
            {
                var tls = new SslStream(stream, leaveInnerStreamOpen: false, (_, certificate, _, _) => ClusterCertificate.Matches(certificate, certificateThumbprint));
                await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = host }, cancellationToken).ConfigureAwait(false);
                stream = tls;
            }

            await stream.WriteAsync(BulkFrame.Hello(token, Channel), cancellationToken).ConfigureAwait(false);
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            _socket = socket;
            _stream = stream;
            Results.Reopened();
            _reading = ReadResultsAsync(stream);
            return stream;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The worker's abstract Unix socket, when it offers one, its address is a loopback one (so it runs on this machine)
    /// and it does not use TLS; null otherwise, or when the socket is not reachable (another network namespace).
    /// </summary>
    private async Task<Socket?> ConnectLocalAsync(CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(localName) || certificateThumbprint is not null || !OperatingSystem.IsLinux() || !IsLoopback(host))
        {
            return null;
        }

        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { SendBufferSize = 4 * 1024 * 1024 };
        try
        {
            await socket.ConnectAsync(BulkFrame.LocalEndPoint(localName), cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch (SocketException)
        {
            socket.Dispose();
            return null;
        }
    }

    /// <summary>
    /// Receives result blobs until the connection ends or the worker says goodbye on it; then waits for results not
    /// yet here fail at once, and the next use opens a new connection. After a goodbye, the connection is closed as
    /// soon as no blob is being written on it: the worker still reads what was sent before the goodbye arrived.
    /// </summary>
    private async Task ReadResultsAsync(Stream stream)
    {
        await Task.Yield();
        Exception ended;
        var goodbye = false;
        try
        {
            while (await BulkFrame.ReadBlobAsync(stream, WireLimits.MaxMessageBytes, activity: null, CancellationToken.None).ConfigureAwait(false) is (var id, var payload))
            {
                if (id == BulkFrame.GoodbyeId)
                {
                    payload.Buffer.Release();
                    goodbye = true;
                    break;
                }

                Results.Deliver(id, payload);
            }

            ended = new IOException(goodbye ? "the worker closed the bulk-data connection, which had been idle" : "the bulk-data connection was closed");
        }
        catch (Exception ex)
        {
            ended = ex;
        }

        _ended = stream;
        Results.Broke(ended);
        if (goodbye && _writer.Wait(0))
        {
            try
            {
                if (ReferenceEquals(_stream, stream))
                {
                    await CloseAsync().ConfigureAwait(false);
                }
            }
            finally
            {
                _writer.Release();
            }
        }
    }

    private static bool IsLoopback(string host)
        => string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));

    private async Task CloseAsync()
    {
        if (_stream is not null)
        {
            await _stream.DisposeAsync().ConfigureAwait(false);
        }

        _socket?.Dispose();
        _stream = null;
        _socket = null;
    }
}
