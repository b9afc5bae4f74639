using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;

namespace Coiled.Remote.Worker.Executors;

/// <summary>
/// A client's task stream on a direct route: the client's own connection, handed over by the daemon, on which this
/// executor speaks TLS (when the worker uses it) with the worker's certificate, checks the ticket's secret and then
/// exchanges frames with the client itself. The requests end when the client closes the connection, which means the
/// client is gone.
/// </summary>
internal sealed class DirectStream : IExecutorStream
{
    /// <summary>The client must finish TLS and send its secret within this time.</summary>
    internal static readonly TimeSpan OpeningTimeout = TimeSpan.FromSeconds(10);

    private static readonly Lock CertificateLock = new();
    private static (byte[] Bytes, X509Certificate2 Certificate)? s_certificate;

    private readonly FrameStream _frames;
    private readonly Lock _writing = new();

    private DirectStream(FrameStream frames) => _frames = frames;

    public bool EndCompletes => false;

    /// <summary>
    /// Opens the route on <paramref name="connection"/>, which this then owns: TLS, the secret, and <paramref name="ready"/>
    /// as the first reply. Null when the client did not open it properly (wrong secret, failed TLS, silence), having told
    /// it why where that was possible, and closed the connection.
    /// </summary>
    public static DirectStream? Accept(Socket connection, RouteHandoff handoff, Ready ready)
    {
        connection.NoDelay = true;
        connection.ReceiveTimeout = connection.SendTimeout = (int)OpeningTimeout.TotalMilliseconds;
        Stream stream = new NetworkStream(connection, ownsSocket: true);

        // The timeouts above bound each read; this bounds the whole opening, which a client sending a byte at a time would stretch.
        using var deadline = new CancellationTokenSource(OpeningTimeout);
        var expiry = deadline.Token.Register(connection.Dispose);
        try
        {
            if (!handoff.Certificate.IsEmpty)
            {
                var tls = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = tls;
                tls.AuthenticateAsServer(new SslServerAuthenticationOptions { ServerCertificate = Certificate(handoff.Certificate.ToByteArray()) });
            }

            var frames = new FrameStream(stream);
            Span<byte> secret = stackalloc byte[DirectRoute.SecretBytes];
            frames.ReadExactly(secret);
            if (!CryptographicOperations.FixedTimeEquals(secret, handoff.Secret.Span))
            {
                frames.Write(new RunReply { Refused = "The connection did not present its route's secret. Open a direct route with OpenRoute and send the ticket's secret first." }, []);
                frames.Dispose();
                return null;
            }

            // Waits for the deadline's callback if it runs now; a connection it closed is not served.
            expiry.Dispose();
            if (deadline.IsCancellationRequested)
            {
                frames.Dispose();
                return null;
            }

            connection.ReceiveTimeout = connection.SendTimeout = 0;
            frames.Write(new RunReply { Ready = ready }, []);
            return new DirectStream(frames);
        }
        catch (Exception ex) when (ex is IOException or SocketException or AuthenticationException or InvalidDataException or ObjectDisposedException)
        {
            stream.Dispose();
            return null;
        }
        finally
        {
            expiry.Dispose();
        }
    }

    public FrameStream.Frame<RunRequest>? Read()
    {
        var frame = _frames.Read(RunRequest.Parser);
        if (frame is { Header.KindCase: not (RunRequest.KindOneofCase.Tasks or RunRequest.KindOneofCase.Cancel or RunRequest.KindOneofCase.Share or RunRequest.KindOneofCase.Release or RunRequest.KindOneofCase.ReturnTasks) } wrong)
        {
            wrong.Payload?.Release();
            throw new InvalidDataException($"A direct route carries 'tasks', 'cancel', 'share', 'release' and 'return_tasks' requests, not '{wrong.Header.KindCase}'.");
        }

        return frame;
    }

    public void Write(RunReply reply, ReadOnlySpan<byte> payload)
    {
        lock (_writing)
        {
            _frames.Write(reply, payload);
        }
    }

    public void Finish()
    {
    }

    public void Refuse(string message)
    {
        try
        {
            Write(new RunReply { Refused = message }, []);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            // The client is gone already.
        }
    }

    public void Dispose() => _frames.Dispose();

    /// <summary>The worker's certificate, loaded once: every route of a worker carries the same.</summary>
    private static X509Certificate2 Certificate(byte[] pkcs12)
    {
        lock (CertificateLock)
        {
            if (s_certificate is not { } loaded || !loaded.Bytes.AsSpan().SequenceEqual(pkcs12))
            {
                loaded = (pkcs12, X509CertificateLoader.LoadPkcs12(pkcs12, password: null));
                s_certificate = loaded;
            }

            return loaded.Certificate;
        }
    }
}
