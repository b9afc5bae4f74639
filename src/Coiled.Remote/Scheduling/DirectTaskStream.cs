using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Coiled.Remote.Security;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Google.Protobuf;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// A task stream on a direct route (<c>OpenRoute</c> in worker.proto): a connection of its own to the worker's port,
/// which the worker hands to the executor process of the stream's environment, so that tasks and results pass no other
/// process. Frames as <see cref="FrameStream"/> reads them; a batch's arguments and results travel as raw payload.
/// Everything here blocks: the socket never sees an asynchronous operation, so that the thread reading results is
/// woken by the kernel itself (see <see cref="FrameStream"/>). One sender and one reader at a time.
/// </summary>
internal sealed class DirectTaskStream : IDisposable
{
    private readonly Socket _socket;
    private readonly FrameStream _frames;

    private DirectTaskStream(Socket socket, FrameStream frames, ByteString routeId)
    {
        _socket = socket;
        _frames = frames;
        RouteId = routeId;
    }

    /// <summary>The route this stream took, which the worker knows its executor by.</summary>
    public ByteString RouteId { get; }

    /// <summary>
    /// Connects to the worker for <paramref name="ticket"/>, speaks TLS when the worker's address is https (pinning its
    /// certificate), presents the ticket's secret and reads the executor's first answer.
    /// </summary>
    /// <exception cref="IOException">The connection failed, or the executor refused it; the message says which.</exception>
    /// <exception cref="TimeoutException">Connecting, TLS or the first answer took longer than <paramref name="timeout"/>.</exception>
    public static async Task<(DirectTaskStream Stream, Ready Ready)> OpenAsync(WorkerEndpoint endpoint, RouteTicket ticket, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (timeout != Timeout.InfiniteTimeSpan)
        {
            deadline.CancelAfter(timeout);
        }

        // A blocking connect has no deadline of its own: closing the socket ends it.
        await using var closing = deadline.Token.Register(socket.Dispose).ConfigureAwait(false);
        try
        {
            return await Task.Run(() => Open(socket, endpoint, ticket, timeout), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception) when (deadline.IsCancellationRequested)
        {
            socket.Dispose();
            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException($"the direct route to worker {endpoint.Address} did not open within {timeout.TotalSeconds:0.#} s");
        }
        catch (Exception ex) when (ex is SocketException or AuthenticationException or InvalidDataException or ObjectDisposedException)
        {
            socket.Dispose();
            throw new IOException($"the direct route to worker {endpoint.Address} failed to open: {ex.Message}", ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends a request; a task batch's arguments and a shared value's bytes go as the frame's payload, not inside its header.</summary>
    public void Send(RunRequest request)
    {
        if (request.Tasks is { } tasks)
        {
            var arguments = tasks.Arguments;
            tasks.Arguments = ByteString.Empty;
            _frames.Write(request, arguments.Span);
        }
        else if (request.Share is { } share)
        {
            var value = share.Value;
            share.Value = ByteString.Empty;
            _frames.Write(request, value.Span);
        }
        else
        {
            _frames.Write(request, []);
        }
    }

    /// <summary>Reads the next result batch, blocking, with its results in a pooled buffer the caller releases; null when the executor closed the stream.</summary>
    /// <exception cref="IOException">The executor refused the stream (the message says why), or the connection broke.</exception>
    public FrameStream.Frame<RunReply>? Read()
    {
        var frame = _frames.Read(RunReply.Parser);
        if (frame is { Header.KindCase: RunReply.KindOneofCase.Refused } refused)
        {
            refused.Payload?.Release();
            throw new IOException($"the executor ended the task stream: {refused.Header.Refused}");
        }

        return frame;
    }

    public void Dispose()
    {
        _frames.Dispose();
        _socket.Dispose();
    }

    private static (DirectTaskStream, Ready) Open(Socket socket, WorkerEndpoint endpoint, RouteTicket ticket, TimeSpan timeout)
    {
        var host = endpoint.Address.IdnHost;
        socket.Connect(host, endpoint.Address.Port);
        var wait = timeout == Timeout.InfiniteTimeSpan ? 0 : (int)Math.Clamp(timeout.TotalMilliseconds, 1, int.MaxValue);
        socket.ReceiveTimeout = wait;
        socket.SendTimeout = wait;
        socket.Send(DirectRoute.OpeningFor(ticket.RouteId.Span));
        Stream stream = new NetworkStream(socket, ownsSocket: false);
        if (endpoint.Address.Scheme == Uri.UriSchemeHttps)
        {
            var pinned = endpoint.CertificateThumbprint!;
            var tls = new SslStream(stream, leaveInnerStreamOpen: false);
            stream = tls;
            tls.AuthenticateAsClient(new SslClientAuthenticationOptions
            {
                TargetHost = host,
                RemoteCertificateValidationCallback = (_, certificate, _, _) => ClusterCertificate.Matches(certificate, pinned),
            });
        }

        var frames = new FrameStream(stream);
        stream.Write(ticket.Secret.Span);
        var first = frames.Read(RunReply.Parser) ?? throw new InvalidDataException("the worker closed the connection without an answer (an expired or unknown ticket)");
        first.Payload?.Release();
        switch (first.Header.KindCase)
        {
            case RunReply.KindOneofCase.Ready:
                socket.ReceiveTimeout = 0;
                socket.SendTimeout = 0;
                return (new DirectTaskStream(socket, frames, ticket.RouteId), first.Header.Ready);
            case RunReply.KindOneofCase.Refused:
                throw new InvalidDataException("the executor refused it: " + first.Header.Refused);
            default:
                throw new InvalidDataException($"the executor answered '{first.Header.KindCase}' instead of 'ready'");
        }
    }
}
