using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Coiled.Remote.Security;

namespace Coiled.Remote.Transport;

/// <summary>
/// The client's side of a worker's bulk-data connection: a plain TCP stream (TLS with the pinned certificate when the
/// worker uses TLS) that carries large task arguments as raw bytes. A worker on this machine is reached through its
/// abstract Unix socket instead, when it offers one. Opened on first use; one writer at a time.
/// </summary>
/// <param name="host">The worker's host.</param>
/// <param name="port">The worker's bulk-data TCP port.</param>
/// <param name="localName">The worker's abstract Unix socket name, or null.</param>
/// <param name="token">The cluster token.</param>
/// <param name="certificateThumbprint">The worker's pinned certificate, when it uses TLS.</param>
internal sealed class BulkChannel(string host, int port, string? localName, string token, string? certificateThumbprint) : IAsyncDisposable
{
    private readonly SemaphoreSlim _writer = new(1, 1);
    private Socket? _socket;
    private Stream? _stream;

    /// <summary>Sends one blob of arguments under a new id and returns that id.</summary>
    public async Task<ulong> SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var id = BinaryPrimitives.ReadUInt64LittleEndian(RandomNumberGenerator.GetBytes(8)) | 1;
        await _writer.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var stream = _stream ?? await ConnectAsync(cancellationToken).ConfigureAwait(false);
            var header = new byte[BulkFrame.BlobHeaderBytes];
            BulkFrame.WriteBlobHeader(header, id, data.Length);
            await stream.WriteAsync(header, cancellationToken).ConfigureAwait(false);
            await stream.WriteAsync(data, cancellationToken).ConfigureAwait(false);
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
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
        _writer.Dispose();
    }

    /// <summary>Whether the last connection went through the worker's abstract Unix socket.</summary>
    public bool IsLocal { get; private set; }

    private async Task<Stream> ConnectAsync(CancellationToken cancellationToken)
    {
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
            if (certificateThumbprint is not null)
            {
                var tls = new SslStream(stream, leaveInnerStreamOpen: false, (_, certificate, _, _) => ClusterCertificate.Matches(certificate, certificateThumbprint));
                await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = host }, cancellationToken).ConfigureAwait(false);
                stream = tls;
            }

            var tokenBytes = Encoding.UTF8.GetBytes(token);
            var hello = new byte[2 + tokenBytes.Length];
            BinaryPrimitives.WriteUInt16LittleEndian(hello, (ushort)tokenBytes.Length);
            tokenBytes.CopyTo(hello, 2);
            await stream.WriteAsync(hello, cancellationToken).ConfigureAwait(false);
            _socket = socket;
            _stream = stream;
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
