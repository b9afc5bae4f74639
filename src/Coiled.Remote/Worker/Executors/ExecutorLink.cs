using System.Buffers.Binary;
using System.Net.Sockets;
using Coiled.Remote.Transport;
using Google.Protobuf;

namespace Coiled.Remote.Worker.Executors;

/// <summary>
/// One connection between the worker daemon and an executor process, on a Unix socket: frames of a protobuf header
/// (a <c>RunRequest</c> towards the executor, a <c>RunReply</c> back) followed by raw payload bytes (a task batch's
/// arguments, a result batch's results), so that payloads are never re-encoded on the way through the daemon.
/// <code>
/// secret: 32 bytes                                                 daemon → executor, once
/// frame:  u32 header length, u32 payload length, header, payload   either way, repeated
/// </code>
/// Integers are little-endian. A frame with an empty header ends the stream: from the daemon, "the client is gone,
/// drop everything"; from the executor, "every outcome was sent". One writer and one reader at a time.
/// </summary>
internal sealed class ExecutorLink : IDisposable
{
    /// <summary>Length of the secret the daemon opens each connection with.</summary>
    public const int SecretBytes = 32;

    private const int PrefixBytes = 8;
    private const int BufferBytes = 64 * 1024;

    /// <summary>Frames up to this size are copied into one buffer and sent with one call; larger payloads go from where they are.</summary>
    private const int CoalesceBytes = 256 * 1024;

    /// <summary>Socket buffers large enough that a large payload crosses in a few wake-ups of each side rather than hundreds.</summary>
    private const int SocketBufferBytes = 4 * 1024 * 1024;

    private readonly Socket _socket;
    private readonly byte[] _receive = new byte[BufferBytes];
    private byte[] _send = new byte[BufferBytes];
    private int _start;
    private int _end;

    public ExecutorLink(Socket socket)
    {
        _socket = socket;
        socket.SendBufferSize = SocketBufferBytes;
        socket.ReceiveBufferSize = SocketBufferBytes;
    }

    /// <summary>Connects to an executor's socket and presents the secret it was started with.</summary>
    public static async Task<ExecutorLink> ConnectAsync(string socketPath, ReadOnlyMemory<byte> secret, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
            await socket.SendAsync(secret, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            return new ExecutorLink(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Reads the secret a connection opens with; false when it is missing or wrong (compared in constant time).</summary>
    public async Task<bool> AcceptSecretAsync(ReadOnlyMemory<byte> expected, CancellationToken cancellationToken)
    {
        var secret = new byte[SecretBytes];
        var read = 0;
        while (read < secret.Length)
        {
            var n = await _socket.ReceiveAsync(secret.AsMemory(read), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                return false;
            }

            read += n;
        }

        return System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(secret, expected.Span);
    }

    /// <summary>Writes one frame: <paramref name="header"/>, then <paramref name="payload"/> as raw bytes.</summary>
    public async ValueTask WriteAsync(IMessage header, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var headerLength = header.CalculateSize();
        var coalesce = PrefixBytes + headerLength + payload.Length <= CoalesceBytes;
        var first = PrefixBytes + headerLength + (coalesce ? payload.Length : 0);
        if (_send.Length < first)
        {
            _send = new byte[Math.Max(first, _send.Length * 2)];
        }

        BinaryPrimitives.WriteUInt32LittleEndian(_send, (uint)headerLength);
        BinaryPrimitives.WriteUInt32LittleEndian(_send.AsSpan(4), (uint)payload.Length);
        header.WriteTo(_send.AsSpan(PrefixBytes, headerLength));
        if (coalesce)
        {
            payload.Span.CopyTo(_send.AsSpan(PrefixBytes + headerLength));
        }

        await _socket.SendAsync(_send.AsMemory(0, first), SocketFlags.None, cancellationToken).ConfigureAwait(false);
        if (!coalesce)
        {
            await _socket.SendAsync(payload, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        }

        if (_send.Length > CoalesceBytes)
        {
            // A large header (a batch of many failures) does not keep its buffer.
            _send = new byte[BufferBytes];
        }
    }

    /// <summary>No more frames from this side; the other side reads the end of the stream.</summary>
    public void CompleteWrites()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // The other side is gone already.
        }
    }

    /// <summary>
    /// Reads the next frame; null when the connection ends cleanly between frames. The payload, if any, is in a pooled
    /// buffer that the caller then holds once.
    /// </summary>
    /// <exception cref="InvalidDataException">The connection ended inside a frame, or a frame is larger than allowed.</exception>
    public async ValueTask<Frame<T>?> ReadAsync<T>(MessageParser<T> parser, CancellationToken cancellationToken)
        where T : IMessage<T>
    {
        if (!await FillAsync(PrefixBytes, cancellationToken).ConfigureAwait(false))
        {
            if (_end > _start)
            {
                throw new InvalidDataException("The executor link ended inside a frame header.");
            }

            return null;
        }

        var headerLength = BinaryPrimitives.ReadUInt32LittleEndian(_receive.AsSpan(_start));
        var payloadLength = BinaryPrimitives.ReadUInt32LittleEndian(_receive.AsSpan(_start + 4));
        if (headerLength > WireLimits.MaxMessageBytes || payloadLength > WireLimits.MaxMessageBytes)
        {
            throw new InvalidDataException($"An executor link frame declares a {headerLength:N0}-byte header and a {payloadLength:N0}-byte payload; at most {WireLimits.MaxMessageBytes:N0} bytes each are allowed.");
        }

        _start += PrefixBytes;
        T header;
        if (headerLength <= _receive.Length)
        {
            await FillOrThrowAsync((int)headerLength, cancellationToken).ConfigureAwait(false);
            header = parser.ParseFrom(_receive.AsSpan(_start, (int)headerLength));
            _start += (int)headerLength;
        }
        else
        {
            var bytes = new byte[headerLength];
            await ReadIntoAsync(bytes, cancellationToken).ConfigureAwait(false);
            header = parser.ParseFrom(bytes);
        }

        if (payloadLength == 0)
        {
            return new Frame<T>(header, null, 0);
        }

        var payload = RentedBuffer.Rent((int)payloadLength);
        try
        {
            await ReadIntoAsync(payload.Array.AsMemory(0, (int)payloadLength), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            payload.Release();
            throw;
        }

        return new Frame<T>(header, payload, (int)payloadLength);
    }

    public void Dispose() => _socket.Dispose();

    /// <summary>Copies buffered bytes into <paramref name="destination"/>, then receives the rest straight into it.</summary>
    private async ValueTask ReadIntoAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        var buffered = Math.Min(_end - _start, destination.Length);
        _receive.AsSpan(_start, buffered).CopyTo(destination.Span);
        _start += buffered;
        var filled = buffered;
        while (filled < destination.Length)
        {
            var n = await _socket.ReceiveAsync(destination[filled..], SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                throw new InvalidDataException("The executor link ended inside a frame.");
            }

            filled += n;
        }
    }

    private async ValueTask FillOrThrowAsync(int count, CancellationToken cancellationToken)
    {
        if (!await FillAsync(count, cancellationToken).ConfigureAwait(false))
        {
            throw new InvalidDataException("The executor link ended inside a frame.");
        }
    }

    /// <summary>Makes at least <paramref name="count"/> bytes available in the receive buffer; false at the end of the stream.</summary>
    private async ValueTask<bool> FillAsync(int count, CancellationToken cancellationToken)
    {
        if (_end - _start >= count)
        {
            return true;
        }

        if (_start > 0)
        {
            _receive.AsSpan(_start, _end - _start).CopyTo(_receive);
            _end -= _start;
            _start = 0;
        }

        while (_end < count)
        {
            var n = await _socket.ReceiveAsync(_receive.AsMemory(_end), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                return false;
            }

            _end += n;
        }

        return true;
    }

    /// <summary>One frame: its header and, when it has one, its payload in a pooled buffer.</summary>
    public readonly record struct Frame<T>(T Header, RentedBuffer? Payload, int PayloadLength)
    {
        public ReadOnlyMemory<byte> Data => Payload is null ? ReadOnlyMemory<byte>.Empty : Payload.Array.AsMemory(0, PayloadLength);
    }
}
