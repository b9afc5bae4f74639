using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Buffers;
using System.Reflection;
using Coiled.Remote.Security;
using Coiled.Remote.Stubs;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Google.Protobuf;

namespace Coiled.Remote.Worker.Executors;

/// <summary>
/// Readies a spare executor for its first client before it has one. It compiles the serializers every first task uses
/// and what binding it to an environment does (a bind line read, a load context made over a folder), then serves one
/// direct route to itself the way a client's first one comes: a daemon's link on a Unix socket, a loopback TCP
/// connection handed over it, TLS with a throwaway certificate when the daemon's clients use TLS, the route's secret, a
/// task batch and its outcome. The code on that path is then compiled (and the TLS library loaded) before a client
/// waits on them. The batch names no method (an unknown-method failure comes back), so no code of any app runs. Runs
/// beside the spare's wait for its environment, which it never delays, and stops between steps once the spare is bound:
/// the first route then compiles what is still cold itself, without a second client beside it.
/// </summary>
internal static class ExecutorWarmUp
{
    /// <summary>Names the assembly of the warm-up batch; it has no [Remote] methods.</summary>
    internal const string Assembly = "Coiled.Remote.Worker";

    /// <summary>The stub the warm-up batch runs, which only the warm-up's environment has (<see cref="WarmUpStub"/>).</summary>
    internal const string StubId = "coiled-remote warm-up";

    /// <summary>
    /// Held while the warm-up's TLS handshake runs, on both its sides: the TLS library reads process variables then,
    /// which a bind must not set meanwhile (glibc's getenv is not safe against a concurrent setenv).
    /// </summary>
    internal static readonly Lock NativeGate = new();

    /// <summary>The id of the environment the warm-up's bind line names, which no environment has (ids are hex).</summary>
    private const string WarmUpEnvironmentId = "coiled-remote-warm-up";

    /// <summary>The executor's own application, whose deps.json the warm-up's load context reads.</summary>
    private const string WorkerApplication = "coiled-remote-worker";

    /// <summary>The longest any step of the warm-up route may wait.</summary>
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Warms the serializers, then (where sockets can be passed) the direct-route path.</summary>
    /// <param name="folder">The executor's private folder, for the warm-up link's socket.</param>
    /// <param name="linkSecret">The secret the executor's links must present.</param>
    /// <param name="tls">Whether the route speaks TLS, as the daemon's clients do.</param>
    /// <param name="serve">Serves a link the way the executor serves its daemon's, in the given environment.</param>
    /// <param name="bound">Completes when the spare is bound to its environment.</param>
    /// <returns>Whether the warm-up route carried its batch and outcome; false when any step failed, which costs only the warming.</returns>
    public static async Task<bool> RunAsync(string folder, byte[] linkSecret, bool tls, Func<Socket, RemoteEnvironment, Task> serve, Task bound)
    {
        Serializers();
        if (!bound.IsCompleted)
        {
            try
            {
                BindPath();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The executor's folder could not be read: only the warming is lost.
            }
        }

        if (!SocketPassing.IsSupported || bound.IsCompleted)
        {
            return false;
        }

        try
        {
            return await RouteAsync(folder, linkSecret, tls, serve, bound).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or AuthenticationException or CryptographicException or InvalidDataException
            or InvalidProtocolBufferException or ObjectDisposedException or UnauthorizedAccessException or TimeoutException or ArgumentOutOfRangeException)
        {
            return false;
        }
    }

    /// <summary>Compiles and initializes the serializers every first task uses.</summary>
    private static void Serializers()
    {
        var resolver = Serialization.RemoteSerializer.Options.Resolver;
        _ = resolver.GetFormatter<int>();
        _ = resolver.GetFormatter<long>();
        _ = resolver.GetFormatter<double>();
        _ = resolver.GetFormatter<string>();
        _ = resolver.GetFormatter<byte[]>();
        var reply = new RunReply { Results = new ResultBatch { TaskIds = { 1 }, Failures = { new TaskFailure { TaskId = 2, Message = "warm-up" } } } };
        _ = RunRequest.Parser.ParseFrom(new RunRequest { Tasks = new TaskBatch { Assembly = "a", StubId = "s", TaskIds = { 1 } } }.ToByteArray());
        _ = reply.CalculateSize();
    }

    /// <summary>
    /// Compiles what a bind does whatever its environment: it reads a bind line, then makes a load context over a folder
    /// by its deps.json and finds an assembly's file through it. The warm-up's folder is the executor's own, and nothing
    /// is loaded from it; the context is unloaded at once.
    /// </summary>
    private static void BindPath()
    {
        var line = ExecutorHost.BindLine(new ExecutorEnvironment(
            WarmUpEnvironmentId, AppContext.BaseDirectory, WorkerApplication, new Dictionary<string, string>(StringComparer.Ordinal) { ["COILED_REMOTE_WARM_UP"] = "1" }));
        var (directory, entryAssembly, open) = ExecutorHost.ReadBindLine(line);
        var environment = RemoteEnvironment.ForFolder(open.EnvironmentId, directory, entryAssembly);
        _ = (environment.Context as EnvironmentLoadContext)?.ResolveAssemblyPath(new System.Reflection.AssemblyName(Assembly));
        environment.Context.Unload();

        // What loading an app's stubs does whatever the app: look for its registry attribute, and make a stub (reflection
        // over its method). The worker's assembly has no registry; the stub is the warm-up's own.
        _ = typeof(ExecutorWarmUp).Assembly.GetCustomAttribute<RemoteStubRegistryAttribute>();
        _ = new WarmUpStub();
    }

    private static async Task<bool> RouteAsync(string folder, byte[] linkSecret, bool tls, Func<Socket, RemoteEnvironment, Task> serve, Task bound)
    {
        using var certificate = tls ? ClusterCertificate.Create("warm-up", TimeSpan.FromHours(1)) : null;
        var routeSecret = RandomNumberGenerator.GetBytes(DirectRoute.SecretBytes);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.ReceiveTimeout = client.SendTimeout = (int)StepTimeout.TotalMilliseconds;
        using (var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Listen(1);
            client.Connect(listener.LocalEndPoint!);
            using var routed = listener.Accept();
            if (!routed.RemoteEndPoint!.Equals(client.LocalEndPoint))
            {
                // Another local process connected first: it gets nothing, and the warm-up ends.
                return false;
            }

            // The daemon's side of a link, as ExecutorSupervisor makes one, on a socket of its own.
            var path = Path.Combine(folder, "warm-up.sock");
            using var linkListener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            linkListener.Bind(new UnixDomainSocketEndPoint(path));
            linkListener.Listen(1);
            ExecutorLink daemon;
            Socket link;
            try
            {
                daemon = ExecutorLink.Connect(path, linkSecret);
            }
            finally
            {
                File.Delete(path);
            }

            using (daemon)
            {
                link = linkListener.Accept();
                var serving = serve(link, RemoteEnvironment.ForHost(new WarmUpStub()));
                daemon.SendDirectMode(routed, new RouteHandoff { Secret = ByteString.CopyFrom(routeSecret), Certificate = certificate is null ? ByteString.Empty : ByteString.CopyFrom(certificate.ExportPfx()) });
                var carried = Client(client, routeSecret, tls, bound);
                client.Dispose();
                await serving.WaitAsync(StepTimeout).ConfigureAwait(false);
                return carried;
            }
        }
    }

    /// <summary>The client's side: TLS when the route has it, the secret, the executor's ready, one batch and its outcome.</summary>
    private static bool Client(Socket socket, byte[] routeSecret, bool tls, Task bound)
    {
        Stream stream = new NetworkStream(socket, ownsSocket: false);
        FrameStream frames;
        if (tls)
        {
            // Both sides' handshakes are through when the executor's ready arrives.
            lock (NativeGate)
            {
                if (bound.IsCompleted)
                {
                    return false;
                }

                var secured = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = secured;
                secured.AuthenticateAsClient(new SslClientAuthenticationOptions
                {
                    TargetHost = "localhost",

                    // The executor's own throwaway certificate, on a connection to itself.
                    RemoteCertificateValidationCallback = static (_, _, _, _) => true,
                });
                frames = new FrameStream(secured);
                if (!Open(frames, stream, routeSecret))
                {
                    return false;
                }
            }
        }
        else
        {
            frames = new FrameStream(stream);
            if (bound.IsCompleted || !Open(frames, stream, routeSecret))
            {
                return false;
            }
        }

        using (frames)
        {
            // The MessagePack array of one argument, 0: the stub reads it and returns it, as a first task does.
            frames.Write(new RunRequest { Tasks = new TaskBatch { Assembly = Assembly, StubId = StubId, TaskIds = { 1 } } }, [0x91, 0x00]);
            return Reply(frames) is { KindCase: RunReply.KindOneofCase.Results } outcome && outcome.Results.TaskIds.Count == 1;
        }
    }

    /// <summary>Presents the route's secret and reads the executor's first answer: whether it is ready.</summary>
    private static bool Open(FrameStream frames, Stream stream, byte[] routeSecret)
    {
        stream.Write(routeSecret);
        return Reply(frames) is { KindCase: RunReply.KindOneofCase.Ready };
    }

    private static RunReply? Reply(FrameStream frames)
    {
        if (frames.Read(RunReply.Parser) is not { } frame)
        {
            return null;
        }

        frame.Payload?.Release();
        return frame.Header;
    }

    /// <summary>The warm-up batch's method: takes an int and returns it, as generated stubs do; no code of any app.</summary>
    private sealed class WarmUpStub() : RemoteStub(StubId, new Func<int, int>(Echo), 0, 0)
    {
        public override ValueTask InvokeAsync(ReadOnlyMemory<byte> arguments, IBufferWriter<byte> result, CancellationToken cancellationToken)
        {
            var reader = BeginArguments(arguments, 1);
            return Return(result, Echo(ReadArgument<int>(ref reader, 0)));
        }

        private static int Echo(int value) => value;
    }
}
