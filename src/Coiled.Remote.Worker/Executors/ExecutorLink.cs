using System.Net.Sockets;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Google.Protobuf;

namespace Coiled.Remote.Worker.Executors;

/// <summary>
/// One connection between the worker daemon and an executor process, on a Unix socket. It opens with the executor's
/// secret and a mode byte, then carries <see cref="FrameStream"/> frames:
/// <code>
/// secret: 32 bytes                                   daemon → executor, once
/// mode:   'L' (relayed stream) or 'D' (direct route,  daemon → executor, once; 'D' carries the client's connection
///         its socket beside the byte)                 itself, and a RouteHandoff frame follows
/// frames: RunRequest / RunReply (relayed)             either way, repeated
///         ExecutorReport (direct route)               executor → daemon, until the route ends
/// </code>
/// On a relayed stream, a frame with an empty header ends the stream: from the daemon, "the client is gone, drop
/// everything"; from the executor, "every outcome was sent". One writer and one reader at a time; every operation
/// blocks (see <see cref="FrameStream"/>).
/// </summary>
internal sealed class ExecutorLink : IDisposable
{
    /// <summary>Length of the secret the daemon opens each connection with.</summary>
    public const int SecretBytes = 32;

    /// <summary>The mode byte of a stream the daemon relays.</summary>
    public const byte RelayedMode = (byte)'L';

    /// <summary>The mode byte of a direct route, whose connection travels beside it.</summary>
    public const byte DirectMode = (byte)'D';

    /// <summary>Socket buffers large enough that a large payload crosses in a few wake-ups of each side rather than hundreds.</summary>
    private const int SocketBufferBytes = 4 * 1024 * 1024;

    private readonly Socket _socket;
    private readonly FrameStream _frames;

    public ExecutorLink(Socket socket)
    {
        _socket = socket;
        socket.SendBufferSize = SocketBufferBytes;
        socket.ReceiveBufferSize = SocketBufferBytes;
        _frames = new FrameStream(new NetworkStream(socket, ownsSocket: true));
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

    /// <summary>Says that this connection relays a client's stream.</summary>
    public void SendRelayedMode() => _socket.Send([RelayedMode]);

    /// <summary>Hands <paramref name="connection"/> (a client's direct-route connection) to the executor, with what it needs to serve it.</summary>
    public void SendDirectMode(Socket connection, RouteHandoff handoff)
    {
        SocketPassing.Send(_socket, DirectMode, connection);
        _frames.Write(handoff, []);
    }

    /// <summary>Reads the mode byte, blocking, and the connection that travelled with it; null for the mode when the link ended first.</summary>
    public (byte? Mode, Socket? Connection) ReceiveMode()
    {
        if (SocketPassing.IsSupported)
        {
            return SocketPassing.Receive(_socket);
        }

        var mode = new byte[1];
        return (_socket.Receive(mode) == 0 ? null : mode[0], null);
    }

    /// <summary>Writes one frame, blocking until the socket took it: <paramref name="header"/>, then <paramref name="payload"/> as raw bytes.</summary>
    public void Write(IMessage header, ReadOnlySpan<byte> payload) => _frames.Write(header, payload);

    /// <summary>Reads the next frame, blocking; null when the connection ends cleanly between frames (see <see cref="FrameStream.Read"/>).</summary>
    /// <exception cref="InvalidDataException">The connection ended inside a frame, or a frame is larger than allowed.</exception>
    public FrameStream.Frame<T>? Read<T>(MessageParser<T> parser)
        where T : IMessage<T>
        => _frames.Read(parser);

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

    public void Dispose() => _frames.Dispose();
}
