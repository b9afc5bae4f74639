using System.Net;
using System.Security.Cryptography;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Coiled.Remote.Worker;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Coiled.Remote.Tests.Worker;

/// <summary>The worker's gRPC surface driven by a raw client over loopback: authentication and bad requests.</summary>
public sealed class WorkerProtocolTests : IAsyncLifetime
{
    private const string Token = "test-token-0123456789abcdef";
    private TestWorker _worker = null!;

    private Coiled.Remote.Transport.Protocol.Worker.WorkerClient Client => _worker.Client;

    public async Task InitializeAsync() => _worker = await TestWorker.StartAsync(Token);

    public async Task DisposeAsync() => await _worker.DisposeAsync();

    [Fact]
    public async Task Hello_WithoutToken_IsUnauthenticated()
    {
        var act = () => Client.HelloAsync(new HelloRequest { ProtocolVersion = ProtocolVersion.Current }).ResponseAsync;

        var thrown = (await act.Should().ThrowAsync<RpcException>()).Which;
        thrown.StatusCode.Should().Be(StatusCode.Unauthenticated);
        thrown.Status.Detail.Should().Be("This worker requires the cluster token: send 'authorization: Bearer <token>' with every call.");
    }

    [Fact]
    public async Task EveryCall_WithWrongToken_IsUnauthenticatedAndNothingRuns()
    {
        var wrong = Auth("not-the-token-at-all-000000");
        var content = "uploaded with a wrong token"u8.ToArray();
        var hash = SHA256.HashData(content);
        var manifest = new Manifest { ProtocolVersion = ProtocolVersion.Current };
        manifest.Files.Add(new ManifestEntry { Path = "App.dll", Sha256 = ByteString.CopyFrom(hash), Size = content.Length });

        var hello = () => Client.HelloAsync(new HelloRequest { ProtocolVersion = ProtocolVersion.Current }, wrong).ResponseAsync;
        var plan = () => Client.PlanSyncAsync(new SyncPlanRequest { Manifest = manifest }, wrong).ResponseAsync;
        var shutdown = () => Client.ShutdownAsync(new ShutdownRequest { Reason = "attacker" }, wrong).ResponseAsync;
        var upload = async () =>
        {
            using var call = Client.Upload(wrong);
            await WriteUnlessRefusedAsync(call.RequestStream, new BlobChunk { Sha256 = ByteString.CopyFrom(hash), Size = content.Length, Offset = 0, Data = ByteString.CopyFrom(content) });
            return await call.ResponseAsync;
        };
        var watch = async () =>
        {
            using var call = Client.Watch(new WatchRequest { IntervalMs = 100 }, wrong);
            return await call.ResponseStream.MoveNext();
        };
        var run = async () =>
        {
            using var call = Client.Run(wrong);
            await WriteUnlessRefusedAsync(call.RequestStream, new RunRequest { Open = new OpenEnvironment() });
            return await call.ResponseStream.MoveNext();
        };

        // Every RPC of the Worker service (protos/coiled/remote/v1/worker.proto), each refused before it reads a byte.
        (await hello.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(StatusCode.Unauthenticated);
        (await plan.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(StatusCode.Unauthenticated);
        (await upload.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(StatusCode.Unauthenticated);
        (await run.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(StatusCode.Unauthenticated);
        (await shutdown.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(StatusCode.Unauthenticated);
        (await watch.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(StatusCode.Unauthenticated);
        _worker.Host.StopRequested.IsCompleted.Should().BeFalse("an unauthenticated shutdown must not stop the worker");
        File.Exists(Path.Combine(_worker.CachePath, "blobs", Convert.ToHexStringLower(hash))).Should().BeFalse("an unauthenticated upload stores nothing");
        _worker.Host.Runtime.Activity.ConnectedClients.Should().Be(0, "an unauthenticated task stream never opens");
        var planned = await Client.PlanSyncAsync(new SyncPlanRequest { Manifest = manifest }, Auth(Token));
        planned.Missing.Should().ContainSingle("the blob sent with the wrong token never arrived");
    }

    [Fact]
    public async Task Hello_WithToken_DescribesTheWorker()
    {
        var reply = await Client.HelloAsync(new HelloRequest { ProtocolVersion = ProtocolVersion.Current }, Auth(Token));

        reply.WorkerId.Should().Be(_worker.Host.WorkerId);
        reply.ProcessId.Should().Be(Environment.ProcessId);
        reply.ProtocolVersion.Should().Be(ProtocolVersion.Current);
    }

    [Fact]
    public async Task Hello_OtherProtocolVersion_FailedPreconditionSaysWhatToDo()
    {
        var act = () => Client.HelloAsync(new HelloRequest { ProtocolVersion = 99 }, Auth(Token)).ResponseAsync;

        var thrown = (await act.Should().ThrowAsync<RpcException>()).Which;
        thrown.StatusCode.Should().Be(StatusCode.FailedPrecondition);
        thrown.Status.Detail.Should().Contain("protocol 99").And.Contain("Use the same Coiled.Remote version");
    }

    [Fact]
    public async Task PlanSync_PathEscapingTheEnvironment_IsInvalidArgument()
    {
        var manifest = new Manifest { ProtocolVersion = ProtocolVersion.Current };
        manifest.Files.Add(new ManifestEntry { Path = "../../etc/passwd", Sha256 = ByteString.CopyFrom(new byte[32]), Size = 1 });

        var act = () => Client.PlanSyncAsync(new SyncPlanRequest { Manifest = manifest }, Auth(Token)).ResponseAsync;

        var thrown = (await act.Should().ThrowAsync<RpcException>()).Which;
        thrown.StatusCode.Should().Be(StatusCode.InvalidArgument);
        thrown.Status.Detail.Should().Be("The manifest path '../../etc/passwd' is not a plain relative path ('a/b.dll', no '..', no leading '/').");
    }

    [Fact]
    public async Task Upload_ContentNotMatchingItsHash_IsDataLossAndNotStored()
    {
        var claimed = SHA256.HashData("the real content"u8);
        using var upload = Client.Upload(Auth(Token));
        await upload.RequestStream.WriteAsync(new BlobChunk { Sha256 = ByteString.CopyFrom(claimed), Size = 5, Offset = 0, Data = ByteString.CopyFromUtf8("forgd") });
        await upload.RequestStream.CompleteAsync();

        var thrown = (await FluentActions.Awaiting(() => upload.ResponseAsync).Should().ThrowAsync<RpcException>()).Which;

        thrown.StatusCode.Should().Be(StatusCode.DataLoss);
        File.Exists(Path.Combine(_worker.CachePath, "blobs", Convert.ToHexStringLower(claimed))).Should().BeFalse();
        (await Client.HelloAsync(new HelloRequest { ProtocolVersion = ProtocolVersion.Current }, Auth(Token))).WorkerId.Should().Be(_worker.Host.WorkerId);
    }

    [Fact]
    public async Task Run_EnvironmentWithBlobsNeverUploaded_FailedPreconditionNamesTheFiles()
    {
        var manifest = new Manifest { ProtocolVersion = ProtocolVersion.Current };
        manifest.Files.Add(new ManifestEntry { Path = "App.dll", Sha256 = ByteString.CopyFrom(SHA256.HashData("never uploaded"u8)), Size = 14 });
        var plan = await Client.PlanSyncAsync(new SyncPlanRequest { Manifest = manifest }, Auth(Token));
        plan.Missing.Should().HaveCount(1);

        using var run = Client.Run(Auth(Token));
        await run.RequestStream.WriteAsync(new RunRequest { Open = new OpenEnvironment { EnvironmentId = plan.EnvironmentId } });
        var act = () => run.ResponseStream.MoveNext();

        var thrown = (await act.Should().ThrowAsync<RpcException>()).Which;
        thrown.StatusCode.Should().Be(StatusCode.FailedPrecondition);
        thrown.Status.Detail.Should().Be(
            $"Environment {plan.EnvironmentId} cannot open: 1 file(s) are not in the worker's cache, e.g. App.dll: never uploaded, or found written to since and deleted. " +
            "Synchronize again (start the cluster again): upload every blob PlanSync reports missing.");
    }

    [Fact]
    public async Task Run_FirstMessageNotOpen_FailedPrecondition()
    {
        using var run = Client.Run(Auth(Token));
        await run.RequestStream.WriteAsync(new RunRequest { Cancel = new CancelTasks() });

        var thrown = (await FluentActions.Awaiting(() => run.ResponseStream.MoveNext()).Should().ThrowAsync<RpcException>()).Which;

        thrown.StatusCode.Should().Be(StatusCode.FailedPrecondition);
        thrown.Status.Detail.Should().Be("The first message of Run must be 'open' (which environment to run in), not 'Cancel'.");
    }

    [Fact]
    public async Task PlanSync_MalformedProtobuf_InvalidArgumentNamesTheParseErrorAndWorkerServesOn()
    {
        var raw = Marshallers.Create<byte[]>(b => b, b => b);
        var method = new Method<byte[], byte[]>(MethodType.Unary, "coiled.remote.v1.Worker", "PlanSync", raw, raw);

        var act = () => _worker.Channel.CreateCallInvoker().AsyncUnaryCall(method, null, Auth(Token), [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]).ResponseAsync;

        var thrown = (await act.Should().ThrowAsync<RpcException>()).Which;
        thrown.StatusCode.Should().Be(StatusCode.InvalidArgument);
        thrown.Status.Detail.Should().MatchRegex(
            "^/coiled\\.remote\\.v1\\.Worker/PlanSync received a request that is not a valid protobuf message \\(.+\\)\\. " +
            "The caller and the worker must speak the same protocol: use the same Coiled\\.Remote version on both\\.$");
        (await Client.HelloAsync(new HelloRequest { ProtocolVersion = ProtocolVersion.Current }, Auth(Token))).WorkerId.Should().Be(_worker.Host.WorkerId);
    }

    [Fact]
    public async Task Run_OpenHostEnvironmentOnADaemonWorker_FailedPreconditionSaysWhatToDo()
    {
        using var run = Client.Run(Auth(Token));
        await run.RequestStream.WriteAsync(new RunRequest { Open = new OpenEnvironment() });
        var act = () => run.ResponseStream.MoveNext();

        // A daemon worker (not in-process) has no host environment to open: it says what to do instead.
        var thrown = (await act.Should().ThrowAsync<RpcException>()).Which;
        thrown.StatusCode.Should().Be(StatusCode.FailedPrecondition);
        thrown.Status.Detail.Should().StartWith("This worker runs tasks only in synchronized environments");
    }

    [Fact]
    public async Task BulkConnection_WrongToken_IsClosedByTheWorker()
    {
        var hello = await Client.HelloAsync(new HelloRequest { ProtocolVersion = ProtocolVersion.Current }, Auth(Token));
        hello.BulkPort.Should().BeGreaterThan(0);
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, hello.BulkPort);
        var stream = tcp.GetStream();
        var header = new byte[BulkFrame.BlobHeaderBytes];
        BulkFrame.WriteBlobHeader(header, 42, 4);

        // One write, so that the worker closing the connection early cannot fail the test's own writing.
        await stream.WriteAsync((byte[])[.. BulkFrame.Preamble, .. BulkFrame.Hello("definitely-not-the-token", 0), .. header, 1, 2, 3, 4]);
        var read = await PeerClose.ReadOrResetAsync(stream);

        read.Should().Be(0, "the worker closes a bulk connection that does not present the token");
        _worker.Host.Runtime.Bulk.Count.Should().Be(0, "nothing that follows a wrong token is delivered");
    }

    [Fact]
    public async Task Hello_OnLinuxWithoutTls_OffersTheBulkListenerAsAnAbstractUnixSocket()
    {
        var hello = await Client.HelloAsync(new HelloRequest { ProtocolVersion = ProtocolVersion.Current }, Auth(Token));

        if (OperatingSystem.IsLinux())
        {
            hello.BulkLocalName.Should().StartWith($"coiled-remote-bulk-{_worker.Host.WorkerId}-");
            File.Exists(hello.BulkLocalName).Should().BeFalse("an abstract socket has no file to clean up");
        }
        else
        {
            hello.BulkLocalName.Should().BeEmpty();
        }
    }

    [Fact]
    public async Task BulkChannel_ToALoopbackWorker_SendsThroughTheUnixSocketAndTheBlobArrivesWhole()
    {
        var hello = await Client.HelloAsync(new HelloRequest { ProtocolVersion = ProtocolVersion.Current }, Auth(Token));
        var data = new byte[3 * 1024 * 1024 + 5];
        new Random(3).NextBytes(data);
        await using var channel = new BulkChannel("127.0.0.1", hello.BulkPort, hello.BulkLocalName, Token, certificateThumbprint: null);

        var id = await channel.SendAsync(data, CancellationToken.None);
        var payload = await _worker.Host.Runtime.Bulk.TakeAsync(id, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        channel.IsLocal.Should().Be(OperatingSystem.IsLinux());
        payload.Data.ToArray().Should().Equal(data);
        payload.Buffer.Release();
    }

    [Fact]
    public async Task BulkChannel_WhenTheUnixSocketIsUnreachable_FallsBackToTcp()
    {
        var hello = await Client.HelloAsync(new HelloRequest { ProtocolVersion = ProtocolVersion.Current }, Auth(Token));
        await using var channel = new BulkChannel("127.0.0.1", hello.BulkPort, "coiled-remote-bulk-nobody-listens-here", Token, certificateThumbprint: null);

        var id = await channel.SendAsync(new byte[] { 1, 2, 3 }, CancellationToken.None);
        var payload = await _worker.Host.Runtime.Bulk.TakeAsync(id, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        channel.IsLocal.Should().BeFalse();
        payload.Data.ToArray().Should().Equal(1, 2, 3);
        payload.Buffer.Release();
    }

    [Fact]
    public async Task BulkUnixSocket_WrongToken_IsClosedByTheWorker()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var hello = await Client.HelloAsync(new HelloRequest { ProtocolVersion = ProtocolVersion.Current }, Auth(Token));
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        await socket.ConnectAsync(BulkFrame.LocalEndPoint(hello.BulkLocalName));
        await using var stream = new System.Net.Sockets.NetworkStream(socket, ownsSocket: false);
        await WriteBulkHelloAsync(stream, "definitely-not-the-token");

        var read = await PeerClose.ReadOrResetAsync(stream);

        read.Should().Be(0, "the worker closes a bulk connection that does not present the token");
    }

    [Fact]
    public async Task BulkConnection_BlobLargerThanTheLimit_IsRefusedAndTheWorkerStaysUp()
    {
        var hello = await Client.HelloAsync(new HelloRequest { ProtocolVersion = ProtocolVersion.Current }, Auth(Token));
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, hello.BulkPort);
        var stream = tcp.GetStream();
        await WriteBulkHelloAsync(stream, Token);
        var header = new byte[BulkFrame.BlobHeaderBytes];
        BulkFrame.WriteBlobHeader(header, 43, int.MaxValue);
        await stream.WriteAsync(header);

        var read = await PeerClose.ReadOrResetAsync(stream);

        read.Should().Be(0, "a blob over the size limit closes its connection before anything is allocated");
        var again = await Client.HelloAsync(new HelloRequest { ProtocolVersion = ProtocolVersion.Current }, Auth(Token));
        again.WorkerId.Should().Be(hello.WorkerId);
    }

    /// <summary>
    /// Writes a request message and ends the request stream. A worker that refused the call may have ended it first;
    /// the write then fails ("the call is complete") and the call's status is read from the response instead.
    /// </summary>
    private static async Task WriteUnlessRefusedAsync<T>(IClientStreamWriter<T> stream, T message)
    {
        try
        {
            await stream.WriteAsync(message);
            await stream.CompleteAsync();
        }
        catch (Exception e) when (e is InvalidOperationException or RpcException)
        {
            // The server answered before reading the request, so the write found the call over or its request
            // stream reset (grpc-dotnet reports that write as Cancelled). The test asserts the call's own status,
            // which comes from the server's response.
        }
    }

    /// <summary>The bulk-data connection's opening (preamble, token), without a result channel.</summary>
    private static async Task WriteBulkHelloAsync(Stream stream, string token) => await stream.WriteAsync((byte[])[.. BulkFrame.Preamble, .. BulkFrame.Hello(token, 0)]);

    private static CallOptions Auth(string token)
        => new(new Metadata { { WireLimits.AuthorizationHeader, WireLimits.BearerPrefix + token } });
}
