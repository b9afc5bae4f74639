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
/// Every operation blocks, and the reader is a thread of its own (see <see cref="Read"/>): a socket that never saw an
/// asynchronous operation stays a plain blocking socket, whose reader the kernel wakes directly.
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
    public static ExecutorLink Connect(string socketPath, ReadOnlySpan<byte> secret)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(socketPath));
            socket.Send(secret);
            return new ExecutorLink(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads the secret a connection opens with, waiting at most <paramref name="timeout"/>; false when it is missing,
    /// late or wrong (compared in constant time).
    /// </summary>
    public bool AcceptSecret(ReadOnlySpan<byte> expected, TimeSpan timeout)
    {
        Span<byte> secret = stackalloc byte[SecretBytes];
        _socket.ReceiveTimeout = (int)timeout.TotalMilliseconds;
        try
        {
            var read = 0;
            while (read < secret.Length)
            {
                var n = _socket.Receive(secret[read..]);
                if (n == 0)
                {
                    return false;
                }

                read += n;
            }
        }
        catch (SocketException)
        {
            return false;
        }
        finally
        {
            _socket.ReceiveTimeout = 0;
        }

        return System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(secret, expected);
    }

    /// <summary>Writes one frame, blocking until the socket took it: <paramref name="header"/>, then <paramref name="payload"/> as raw bytes.</summary>
    public void Write(IMessage header, ReadOnlySpan<byte> payload)
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
            payload.CopyTo(_send.AsSpan(PrefixBytes + headerLength));
        }

        SendAll(_send.AsSpan(0, first));
        if (!coalesce)
        {
            SendAll(payload);
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
    /// Reads the next frame, blocking; null when the connection ends cleanly between frames. The payload, if any, is in a
    /// pooled buffer that the caller then holds once.
    /// </summary>
    /// <remarks>
    /// Blocking, for a thread of its own: a frame then wakes its reader directly, where an asynchronous read (or a blocking
    /// one on a socket that ever saw an asynchronous operation) wakes the socket engine's thread first, which hands the
    /// frame on, a context switch more per frame on the path of every task's round trip. Disposing the link ends a read
    /// in progress with an exception.
    /// </remarks>
    /// <exception cref="InvalidDataException">The connection ended inside a frame, or a frame is larger than allowed.</exception>
    public Frame<T>? Read<T>(MessageParser<T> parser)
        where T : IMessage<T>
    {
        if (!Fill(PrefixBytes))
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
            if (!Fill((int)headerLength))
            {
                throw new InvalidDataException("The executor link ended inside a frame.");
            }

            header = parser.ParseFrom(_receive.AsSpan(_start, (int)headerLength));
            _start += (int)headerLength;
        }
        else
        {
            var bytes = new byte[headerLength];
            ReadInto(bytes);
            header = parser.ParseFrom(bytes);
        }

        if (payloadLength == 0)
        {
            return new Frame<T>(header, null, 0);
        }

        var payload = RentedBuffer.Rent((int)payloadLength);
        try
        {
            ReadInto(payload.Array.AsSpan(0, (int)payloadLength));
        }
        catch
        {
            payload.Release();
            throw;
        }

        return new Frame<T>(header, payload, (int)payloadLength);
    }

    public void Dispose() => _socket.Dispose();

    private void SendAll(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            data = data[_socket.Send(data)..];
        }
    }

    /// <summary>Copies buffered bytes into <paramref name="destination"/>, then receives the rest straight into it.</summary>
    private void ReadInto(Span<byte> destination)
    {
        var buffered = Math.Min(_end - _start, destination.Length);
        _receive.AsSpan(_start, buffered).CopyTo(destination);
        _start += buffered;
        var filled = buffered;
        while (filled < destination.Length)
        {
            var n = _socket.Receive(destination[filled..]);
            if (n == 0)
            {
                throw new InvalidDataException("The executor link ended inside a frame.");
            }

            filled += n;
        }
    }

    /// <summary>Makes at least <paramref name="count"/> bytes available in the receive buffer; false at the end of the stream.</summary>
    private bool Fill(int count)
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
            var n = _socket.Receive(_receive.AsSpan(_end));
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
