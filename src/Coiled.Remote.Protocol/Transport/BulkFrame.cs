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
/// goodbye: u64 0, u32 0                                       worker → client, last
/// </code>
/// The connection shares the worker's one port with gRPC: the preamble's first byte (NUL) is one that neither an
/// HTTP/2 preface ('P') nor a TLS handshake (0x16) starts with, so the worker tells them apart on the first byte.
/// All integers are little-endian. A wrong token closes the connection. The channel (0: none) is the id the client
/// gives the same worker in OpenEnvironment.result_channel, so that the worker knows where that stream's results go.
/// A worker says goodbye on a connection that was idle for long: it sends nothing more on it, but still reads the blobs
/// the client sent before it heard, until the client closes it; the client opens a new connection when it next needs one.
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

    /// <summary>The id of the goodbye frame (<see cref="Goodbye"/>): blob ids are never 0.</summary>
    public const ulong GoodbyeId = 0;

    /// <summary>The worker's last frame on a connection it stops using: id 0, length 0.</summary>
    public static ReadOnlySpan<byte> Goodbye => [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

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

    /// <summary>A blob larger than this is read into arrays that grow as its bytes arrive, not into one of its declared length.</summary>
    public const int FirstReservationBytes = 1024 * 1024;

    /// <summary>Pieces a watched connection writes a blob in, reporting each, so that a long write that moves is not taken for a stalled one.</summary>
    private const int WatchedWriteBytes = 1024 * 1024;

    /// <summary>Writes one blob, header and data, and flushes it; <paramref name="activity"/>, if any, hears of each piece.</summary>
    public static async Task WriteBlobAsync(Stream stream, ulong id, ReadOnlyMemory<byte> data, BulkActivity? activity, CancellationToken cancellationToken)
    {
        var header = new byte[BlobHeaderBytes];
        WriteBlobHeader(header, id, data.Length);
        if (activity is null)
        {
            await stream.WriteAsync(header, cancellationToken).ConfigureAwait(false);
            await stream.WriteAsync(data, cancellationToken).ConfigureAwait(false);
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        activity.SendStarted();
        try
        {
            await stream.WriteAsync(header, cancellationToken).ConfigureAwait(false);
            for (var offset = 0; offset < data.Length; offset += WatchedWriteBytes)
            {
                await stream.WriteAsync(data.Slice(offset, Math.Min(WatchedWriteBytes, data.Length - offset)), cancellationToken).ConfigureAwait(false);
                activity.Moved();
            }

            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            activity.SendEnded();
        }
    }

    /// <summary>
    /// Reads the next blob straight into a pooled buffer, held once by the caller; null when the stream ends before
    /// another blob begins.
    /// </summary>
    /// <exception cref="InvalidDataException">The blob declares more than <paramref name="maxLength"/> bytes, or the stream ends inside it.</exception>
    public static async Task<(ulong Id, BulkPayload Payload)?> ReadBlobAsync(Stream stream, long maxLength, BulkActivity? activity, CancellationToken cancellationToken)
    {
        if (await ReadBlobHeaderAsync(stream, maxLength, activity, cancellationToken).ConfigureAwait(false) is not (var id, var length))
        {
            return null;
        }

        return (id, await ReadBlobBodyAsync(stream, id, length, activity, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>
    /// Reads the next blob's header; null when the stream ends before another blob begins. Its body must be read
    /// next, with <see cref="ReadBlobBodyAsync"/> or <see cref="SkipBlobBodyAsync"/>; from its first byte until then,
    /// <paramref name="activity"/> has a blob arriving.
    /// </summary>
    /// <exception cref="InvalidDataException">The blob declares more than <paramref name="maxLength"/> bytes, or the stream ends inside the header.</exception>
    public static async Task<(ulong Id, int Length)?> ReadBlobHeaderAsync(Stream stream, long maxLength, BulkActivity? activity, CancellationToken cancellationToken)
    {
        var header = new byte[BlobHeaderBytes];
        var read = await stream.ReadAsync(header, cancellationToken).ConfigureAwait(false);
        if (read == 0)
        {
            return null;
        }

        activity?.ArrivalStarted();
        try
        {
            await ReadExactlyAsync(stream, header.AsMemory(read), "the header of a blob", body: false, activity, cancellationToken).ConfigureAwait(false);
            var (id, length) = ReadBlobHeader(header);
            if (length > maxLength)
            {
                throw new InvalidDataException($"blob {id} declares {length:N0} bytes, more than the {maxLength:N0} allowed");
            }

            return (id, (int)length);
        }
        catch
        {
            activity?.ArrivalEnded();
            throw;
        }
    }

    /// <summary>
    /// Reads the body of a blob whose header was read, into a pooled buffer held once by the caller. Memory is taken as
    /// bytes arrive, not as the header declares them: a blob over <see cref="FirstReservationBytes"/> is read into arrays
    /// of 1 MiB, 1 MiB, 2 MiB, 4 MiB and so on (each the size of all before it, the last one up to half the blob), so
    /// that what it holds is at most twice what arrived plus 1 MiB; once half of it has arrived, the array of its whole
    /// length is rented, that half is copied into it (once) and the rest is read straight into it.
    /// </summary>
    /// <exception cref="InvalidDataException">The stream ends inside the blob.</exception>
    public static async Task<BulkPayload> ReadBlobBodyAsync(Stream stream, ulong id, int length, BulkActivity? activity, CancellationToken cancellationToken)
    {
        var what = $"blob {id}";
        var pieces = new List<(byte[] Array, int Length)>();
        RentedBuffer? whole = null;
        try
        {
            long held = 0;
            var received = 0;
            var half = length - (length / 2);
            while (length > FirstReservationBytes && received < half)
            {
                var size = Math.Min(Math.Max(FirstReservationBytes, received), half - received);
                var piece = BufferPool.Shared.Rent(size);
                pieces.Add((piece, size));
                held += piece.Length;
                activity?.Holding(held);
                await ReadExactlyAsync(stream, piece.AsMemory(0, size), what, body: true, activity, cancellationToken).ConfigureAwait(false);
                received += size;
            }

            whole = RentedBuffer.Rent(length);
            activity?.Holding(held + whole.Array.Length);
            var offset = 0;
            foreach (var (array, size) in pieces)
            {
                array.AsSpan(0, size).CopyTo(whole.Array.AsSpan(offset));
                offset += size;
            }

            ReturnAll(pieces);
            activity?.Holding(whole.Array.Length);
            await ReadExactlyAsync(stream, whole.Array.AsMemory(offset, length - offset), what, body: true, activity, cancellationToken).ConfigureAwait(false);
            var payload = new BulkPayload(whole, length);
            whole = null;
            return payload;
        }
        finally
        {
            ReturnAll(pieces);
            whole?.Release();
            activity?.ArrivalEnded();
        }
    }

    /// <summary>Reads the body of a blob whose header was read, and drops it: the connection stays usable for the next one.</summary>
    /// <exception cref="InvalidDataException">The stream ends inside the blob.</exception>
    public static async Task SkipBlobBodyAsync(Stream stream, ulong id, int length, BulkActivity? activity, CancellationToken cancellationToken)
    {
        var scratch = System.Buffers.ArrayPool<byte>.Shared.Rent(Math.Min(length, 64 * 1024));
        try
        {
            for (var left = length; left > 0;)
            {
                var size = Math.Min(left, scratch.Length);
                await ReadExactlyAsync(stream, scratch.AsMemory(0, size), $"blob {id}", body: true, activity, cancellationToken).ConfigureAwait(false);
                left -= size;
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(scratch);
            activity?.ArrivalEnded();
        }
    }

    /// <summary>Gives the pieces back to the pool and forgets them.</summary>
    private static void ReturnAll(List<(byte[] Array, int Length)> pieces)
    {
        foreach (var (array, _) in pieces)
        {
            BufferPool.Shared.Return(array);
        }

        pieces.Clear();
    }

    /// <summary>
    /// Fills <paramref name="destination"/> from the stream, telling <paramref name="activity"/> of each read (as bytes
    /// of the blob arriving when <paramref name="body"/>).
    /// </summary>
    /// <exception cref="InvalidDataException">The stream ends first.</exception>
    private static async Task ReadExactlyAsync(Stream stream, Memory<byte> destination, string what, bool body, BulkActivity? activity, CancellationToken cancellationToken)
    {
        while (!destination.IsEmpty)
        {
            var read = await stream.ReadAsync(destination, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new InvalidDataException($"the connection ended inside {what}");
            }

            if (body)
            {
                activity?.Received(read);
            }
            else
            {
                activity?.Moved();
            }

            destination = destination[read..];
        }
    }
}
