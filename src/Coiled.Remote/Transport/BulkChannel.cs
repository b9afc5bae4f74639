using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Coiled.Remote.Security;

namespace Coiled.Remote.Transport;

/// <summary>
/// The client's side of a worker's bulk-data connection: a plain TCP stream (TLS with the pinned certificate when the
/// worker uses TLS) that carries large task arguments as raw bytes. Opened on first use; one writer at a time.
/// </summary>
internal sealed class BulkChannel(string host, int port, string token, string? certificateThumbprint) : IAsyncDisposable
{
    private readonly SemaphoreSlim _writer = new(1, 1);
    private TcpClient? _client;
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

    private async Task<Stream> ConnectAsync(CancellationToken cancellationToken)
    {
        var client = new TcpClient { NoDelay = true, SendBufferSize = 4 * 1024 * 1024 };
        try
        {
            await client.ConnectAsync(host, port, cancellationToken).ConfigureAwait(false);
            Stream stream = client.GetStream();
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
            _client = client;
            _stream = stream;
            return stream;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    private async Task CloseAsync()
    {
        if (_stream is not null)
        {
            await _stream.DisposeAsync().ConfigureAwait(false);
        }

        _client?.Dispose();
        _stream = null;
        _client = null;
    }
}
