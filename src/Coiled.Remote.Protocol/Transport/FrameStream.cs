using System.Buffers.Binary;
using Google.Protobuf;

namespace Coiled.Remote.Transport;

/// <summary>
/// Frames of a protobuf header followed by raw payload bytes on a byte stream, so that payloads (a task batch's
/// arguments, a result batch's results) are never re-encoded: between a worker daemon and its executors on a Unix
/// socket, and between a client and an executor on a direct route.
/// <code>
/// frame:  u32 header length, u32 payload length, header, payload   either way, repeated
/// </code>
/// Integers are little-endian. One writer and one reader at a time. Every operation blocks: the reader is meant to be
/// a thread of its own on a socket that never saw an asynchronous operation, which the kernel then wakes directly
/// when a frame arrives, where an asynchronous read wakes the socket engine's thread first, which hands the frame on:
/// a context switch more on the path of every task's round trip.
/// </summary>
internal sealed class FrameStream : IDisposable
{
    private const int PrefixBytes = 8;
    private const int BufferBytes = 64 * 1024;

    /// <summary>Frames up to this size are copied into one buffer and written with one call; larger payloads go from where they are.</summary>
    private const int CoalesceBytes = 256 * 1024;

    private readonly Stream _stream;
    private readonly byte[] _receive = new byte[BufferBytes];
    private byte[] _send = new byte[BufferBytes];
    private int _start;
    private int _end;

    /// <param name="stream">The connection; disposed with this.</param>
    public FrameStream(Stream stream) => _stream = stream;

    /// <summary>Writes one frame, blocking until the stream took it: <paramref name="header"/>, then <paramref name="payload"/> as raw bytes.</summary>
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

        _stream.Write(_send.AsSpan(0, first));
        if (!coalesce)
        {
            _stream.Write(payload);
        }

        _stream.Flush();
        if (_send.Length > CoalesceBytes)
        {
            // A large header (a batch of many failures) does not keep its buffer.
            _send = new byte[BufferBytes];
        }
    }

    /// <summary>
    /// Reads the next frame, blocking; null when the stream ends cleanly between frames. The payload, if any, is in a
    /// pooled buffer that the caller then holds once. Disposing the stream ends a read in progress with an exception.
    /// </summary>
    /// <exception cref="InvalidDataException">The stream ended inside a frame, or a frame is larger than allowed.</exception>
    public Frame<T>? Read<T>(MessageParser<T> parser)
        where T : IMessage<T>
    {
        if (!Fill(PrefixBytes))
        {
            if (_end > _start)
            {
                throw new InvalidDataException("The connection ended inside a frame header.");
            }

            return null;
        }

        var headerLength = BinaryPrimitives.ReadUInt32LittleEndian(_receive.AsSpan(_start));
        var payloadLength = BinaryPrimitives.ReadUInt32LittleEndian(_receive.AsSpan(_start + 4));
        if (headerLength > WireLimits.MaxMessageBytes || payloadLength > WireLimits.MaxMessageBytes)
        {
            throw new InvalidDataException($"A frame declares a {headerLength:N0}-byte header and a {payloadLength:N0}-byte payload; at most {WireLimits.MaxMessageBytes:N0} bytes each are allowed.");
        }

        _start += PrefixBytes;
        T header;
        if (headerLength <= _receive.Length)
        {
            if (!Fill((int)headerLength))
            {
                throw new InvalidDataException("The connection ended inside a frame.");
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

    /// <summary>Reads exactly <paramref name="destination"/>'s length of raw bytes, after whatever frames were read.</summary>
    /// <exception cref="InvalidDataException">The stream ended first.</exception>
    public void ReadExactly(Span<byte> destination) => ReadInto(destination);

    public void Dispose() => _stream.Dispose();

    /// <summary>Copies buffered bytes into <paramref name="destination"/>, then reads the rest straight into it.</summary>
    private void ReadInto(Span<byte> destination)
    {
        var buffered = Math.Min(_end - _start, destination.Length);
        _receive.AsSpan(_start, buffered).CopyTo(destination);
        _start += buffered;
        var filled = buffered;
        while (filled < destination.Length)
        {
            var n = _stream.Read(destination[filled..]);
            if (n == 0)
            {
                throw new InvalidDataException("The connection ended inside a frame.");
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
            var n = _stream.Read(_receive.AsSpan(_end));
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
