using System.Buffers.Binary;
using System.Net.Sockets;

namespace Coiled.Remote.Transport;

/// <summary>
/// The bulk-data connection's framing, beside the gRPC control stream: large task arguments, and large result
/// batches on their way back, travel as raw bytes so that neither side spends CPU on HTTP/2 framing and protobuf.
/// <code>
/// preamble: the 8 bytes of <see cref="Preamble"/>, in the clear   client → worker, once
/// (TLS handshake here, when the worker uses TLS; all that follows is inside it)
/// hello:  u16 token length, token bytes (UTF-8), u64 channel   client → worker, once
/// blob:   u64 id, u32 length, length bytes                     client → worker (arguments), repeated
/// blob:   u64 id, u32 length, length bytes                     worker → client (results), repeated
/// </code>
/// The connection shares the worker's one port with gRPC: the preamble's first byte (NUL) is one that neither an
/// HTTP/2 preface ('P') nor a TLS handshake (0x16) starts with, so the worker tells them apart on the first byte.
/// All integers are little-endian. A wrong token closes the connection. The channel (0: none) is the id the client
/// gives the same worker in OpenEnvironment.result_channel, so that the worker knows where that stream's results go.
/// </summary>
internal static class BulkFrame
{
    public const int BlobHeaderBytes = 12;

    /// <summary>The first bytes of every bulk-data connection: NUL, "CRBULK", and the framing's version.</summary>
    public static ReadOnlySpan<byte> Preamble => [0x00, (byte)'C', (byte)'R', (byte)'B', (byte)'U', (byte)'L', (byte)'K', 0x01];

    /// <summary>Whether a connection whose first byte is <paramref name="first"/> is a bulk-data connection (not HTTP/2 or TLS).</summary>
    public static bool StartsBulk(byte first) => first == Preamble[0];

    /// <summary>Longest token a hello may carry.</summary>
    public const int MaxTokenBytes = 1024;

    /// <summary>Arguments at least this large go over the bulk connection when the worker offers one.</summary>
    public const int ThresholdBytes = 64 * 1024;

    /// <summary>The endpoint of an abstract Unix socket (Linux): its name after a NUL byte, which keeps it out of the file system.</summary>
    public static UnixDomainSocketEndPoint LocalEndPoint(string name) => new("\0" + name);

    /// <summary>A new random blob or channel id (never 0).</summary>
    public static ulong NewId() => BinaryPrimitives.ReadUInt64LittleEndian(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8)) | 1;

    /// <summary>The opening of a bulk-data connection after its preamble (and TLS handshake): the token and the channel.</summary>
    public static byte[] Hello(string token, ulong channel)
    {
        var tokenBytes = System.Text.Encoding.UTF8.GetBytes(token);
        var hello = new byte[2 + tokenBytes.Length + 8];
        BinaryPrimitives.WriteUInt16LittleEndian(hello, (ushort)tokenBytes.Length);
        tokenBytes.CopyTo(hello, 2);
        BinaryPrimitives.WriteUInt64LittleEndian(hello.AsSpan(2 + tokenBytes.Length), channel);
        return hello;
    }

    public static void WriteBlobHeader(Span<byte> destination, ulong id, int length)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(destination, id);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], (uint)length);
    }

    public static (ulong Id, uint Length) ReadBlobHeader(ReadOnlySpan<byte> source)
        => (BinaryPrimitives.ReadUInt64LittleEndian(source), BinaryPrimitives.ReadUInt32LittleEndian(source[8..]));

    /// <summary>Writes one blob, header and data, and flushes it.</summary>
    public static async Task WriteBlobAsync(Stream stream, ulong id, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var header = new byte[BlobHeaderBytes];
        WriteBlobHeader(header, id, data.Length);
        await stream.WriteAsync(header, cancellationToken).ConfigureAwait(false);
        await stream.WriteAsync(data, cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads the next blob straight into a pooled buffer, held once by the caller; null when the stream ends before
    /// another blob begins.
    /// </summary>
    /// <exception cref="InvalidDataException">The blob declares more than <paramref name="maxLength"/> bytes, or the stream ends inside it.</exception>
    public static async Task<(ulong Id, BulkBlob Blob)?> ReadBlobAsync(Stream stream, long maxLength, CancellationToken cancellationToken)
    {
        var header = new byte[BlobHeaderBytes];
        if (await stream.ReadAtLeastAsync(header, header.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false) < header.Length)
        {
            return null;
        }

        var (id, length) = ReadBlobHeader(header);
        if (length > maxLength)
        {
            throw new InvalidDataException($"blob {id} declares {length:N0} bytes, more than the {maxLength:N0} allowed");
        }

        var data = RentedBuffer.Rent((int)length);
        try
        {
            await stream.ReadExactlyAsync(data.Array.AsMemory(0, (int)length), cancellationToken).ConfigureAwait(false);
        }
        catch (EndOfStreamException)
        {
            data.Release();
            throw new InvalidDataException($"the connection ended inside blob {id}");
        }
        catch
        {
            data.Release();
            throw;
        }

        return (id, new BulkBlob(data, (int)length));
    }
}
