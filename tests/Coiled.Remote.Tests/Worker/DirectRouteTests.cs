using System.Net;
using System.Net.Sockets;
using Coiled.Remote.Security;
using Coiled.Remote.Synchronization;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Coiled.Remote.Worker;
using Coiled.Remote.Worker.Executors;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using MessagePack;
using Microsoft.Extensions.Time.Testing;

namespace Coiled.Remote.Tests.Worker;

/// <summary>
/// Direct routes: a client's task stream is a connection of its own to the worker's port, which the daemon hands,
/// socket and all, to the executor process of the stream's environment; the daemon is then out of the tasks' path.
/// </summary>
public sealed class DirectRouteTests
{
    private const string Token = "direct-route-token-0123456789";
    private static readonly string TestAssembly = typeof(TestJobs).Assembly.GetName().Name!;
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);

    [LinuxTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Cluster_OnADaemonWithExecutors_RunsEveryTaskOverADirectRouteTheDaemonHandedToTheExecutor(bool tls)
    {
        using var cache = new TempDirectory();
        using var certificate = tls ? ClusterCertificate.Create("direct-route-test", TimeSpan.FromHours(1)) : null;
        await using var host = await StartHostAsync(cache.Path, certificate: certificate);
        var endpoint = new WorkerEndpoint(host.Address) { CertificateThumbprint = certificate?.Thumbprint };
        await using var cluster = await Cluster.ConnectAsync([endpoint], Token).WaitAsync(Safety);
        var data = TestJobs.RandomBytes(3 * 1024 * 1024 + 5, seed: 11);

        var executor = await cluster.SubmitAsync(TestJobs.ProcessId, 0).WaitAsync(Safety);
        var squares = await cluster.MapAsync(TestJobs.Square, Enumerable.Range(0, 2_000).Select(i => (double)i)).WaitAsync(Safety);
        var hash = await cluster.SubmitAsync(TestJobs.Sha256, data).WaitAsync(Safety);
        var bytes = await cluster.SubmitAsync(TestJobs.RandomBytes, data.Length, 11).WaitAsync(Safety);

        executor.Should().NotBe(Environment.ProcessId, "tasks run in an executor process");
        squares.Should().Equal(Enumerable.Range(0, 2_000).Select(i => (double)i * i));
        hash.Should().Be(TestJobs.Sha256(data));
        bytes.Should().Equal(data);
        host.Runtime.Routes!.HandedOff.Should().Be(1, "the cluster's one task stream took one route");
        host.Runtime.Routes.Waiting.Should().Be(0);
        host.Runtime.BulkArgumentBatches.Should().Be(0, "large arguments travel on the route itself");
    }

    [LinuxFact]
    public async Task Cluster_WithDirectRoutesOff_IsRelayedByTheDaemon()
    {
        using var cache = new TempDirectory();
        await using var host = await StartHostAsync(cache.Path, directRoutes: false);
        await using var cluster = await Cluster.ConnectAsync([new WorkerEndpoint(host.Address)], Token).WaitAsync(Safety);

        var executor = await cluster.SubmitAsync(TestJobs.ProcessId, 0).WaitAsync(Safety);
        var squares = await cluster.MapAsync(TestJobs.Square, [1.0, 2.0, 3.0]).WaitAsync(Safety);

        executor.Should().NotBe(Environment.ProcessId);
        squares.Should().Equal(1.0, 4.0, 9.0);
        host.Runtime.Routes.Should().BeNull();
    }

    [LinuxFact]
    public async Task Ticket_TakenOnce_ServesItsConnectionAndClosesLaterOnesAndOnesWithUnknownIdsUnanswered()
    {
        using var cache = new TempDirectory();
        await using var host = await StartHostAsync(cache.Path);
        using var channel = GrpcChannel.ForAddress(host.Address);
        var client = new Coiled.Remote.Transport.Protocol.Worker.WorkerClient(channel);
        var ticket = await OpenRouteAsync(client);

        using var route = await ConnectAsync(host, ticket.RouteId.Span);
        route.Write(ticket.Secret.Span);
        var ready = await ReadAsync(route);
        using var again = await ConnectAsync(host, ticket.RouteId.Span);
        using var unknown = await ConnectAsync(host, new byte[DirectRoute.RouteIdBytes]);
        Send(route, new RunRequest { Tasks = IdentityBatches.Of([7, 8]) });
        var results = new Dictionary<ulong, int>();
        while (results.Count < 2)
        {
            // The two may come back in one batch or two.
            var batch = (await ReadAsync(route))!.Value;
            foreach (var (id, value) in batch.Header.Results.TaskIds.Zip(Deserialize(batch)))
            {
                results.Add(id, value);
            }
        }

        ready!.Value.Header.Ready.Slots.Should().Be(2);
        (await PeerClose.ReadOrResetAsync(again.Stream)).Should().Be(0, "a ticket is good for one connection");
        (await PeerClose.ReadOrResetAsync(unknown.Stream)).Should().Be(0, "no ticket has that id");
        results.Should().Equal(new Dictionary<ulong, int> { [7] = 7, [8] = 8 });
        host.Runtime.Routes!.HandedOff.Should().Be(1);
    }

    [LinuxFact]
    public async Task Route_WrongSecret_IsRefusedWithWhatToDoAndClosed()
    {
        using var cache = new TempDirectory();
        await using var host = await StartHostAsync(cache.Path);
        using var channel = GrpcChannel.ForAddress(host.Address);
        var ticket = await OpenRouteAsync(new Coiled.Remote.Transport.Protocol.Worker.WorkerClient(channel));

        using var route = await ConnectAsync(host, ticket.RouteId.Span);
        route.Write(new byte[DirectRoute.SecretBytes]);
        var refused = await ReadAsync(route);

        refused!.Value.Header.Refused.Should().Be("The connection did not present its route's secret. Open a direct route with OpenRoute and send the ticket's secret first.");
        (await ReadAsync(route)).Should().BeNull("the executor closed the connection");
    }

    [LinuxFact]
    public async Task Route_BatchPastTheCreditWindow_IsRefusedWithTheWindowsLimitAndTheNextRouteIsServed()
    {
        using var cache = new TempDirectory();
        await using var host = await StartHostAsync(cache.Path);
        using var channel = GrpcChannel.ForAddress(host.Address);
        var client = new Coiled.Remote.Transport.Protocol.Worker.WorkerClient(channel);
        var ticket = await OpenRouteAsync(client);
        using var route = await ConnectAsync(host, ticket.RouteId.Span);
        route.Write(ticket.Secret.Span);
        await ReadAsync(route);

        Send(route, new RunRequest { Tasks = IdentityBatches.Of(Enumerable.Range(1, WireLimits.MaxTasksInFlight + 1)) });
        var refused = await ReadAsync(route);
        var next = await OpenRouteAsync(client);
        using var nextRoute = await ConnectAsync(host, next.RouteId.Span);
        nextRoute.Write(next.Secret.Span);
        await ReadAsync(nextRoute);
        Send(nextRoute, new RunRequest { Tasks = IdentityBatches.Of([9]) });

        refused!.Value.Header.Refused.Should().Be(
            "The client sent 16,385 more task(s) on a stream that already had 0 whose outcomes it had not received; a stream may have at most 16,384, " +
            "and the stream was ended. Use the same Coiled.Remote version on the caller and the workers: its scheduler sends only as many tasks as its credit window allows.");
        Deserialize((await ReadAsync(nextRoute))!.Value).Should().Equal(9);
    }

    [LinuxFact]
    public async Task Ticket_NotTakenWithinItsLifetime_ExpiresReleasesItsExecutorAndClosesALateConnection()
    {
        using var cache = new TempDirectory();
        var time = new FakeTimeProvider();
        await using var host = await StartHostAsync(cache.Path, time);
        using var channel = GrpcChannel.ForAddress(host.Address);
        var ticket = await OpenRouteAsync(new Coiled.Remote.Transport.Protocol.Worker.WorkerClient(channel));
        var executors = host.Runtime.Executors!;
        executors.Streams.Should().Be(1, "the ticket holds its executor for the client");

        time.Advance(DirectRoute.TicketLifetime - TimeSpan.FromSeconds(1));
        host.Runtime.Routes!.Waiting.Should().Be(1);
        time.Advance(TimeSpan.FromSeconds(1));
        await Eventually.HoldsAsync(() => executors.Streams == 0, "the expired ticket to release its executor");
        using var late = await ConnectAsync(host, ticket.RouteId.Span);

        host.Runtime.Routes.Waiting.Should().Be(0);
        (await PeerClose.ReadOrResetAsync(late.Stream)).Should().Be(0);
        host.Runtime.Routes.HandedOff.Should().Be(0);
    }

    [LinuxFact]
    public async Task OpenRoute_WhenTheMostTicketsWaitAlready_IsRefusedAsResourceExhaustedWithoutHoldingTheExecutorAgain()
    {
        using var cache = new TempDirectory();
        var time = new FakeTimeProvider();
        await using var host = await StartHostAsync(cache.Path, time);
        using var channel = GrpcChannel.ForAddress(host.Address);
        var client = new Coiled.Remote.Transport.Protocol.Worker.WorkerClient(channel);
        var first = await OpenRouteAsync(client);
        var open = new OpenEnvironment { EnvironmentId = first.Ready.EnvironmentId };
        for (var i = 1; i < DirectRouteTable.MaxWaiting; i++)
        {
            await client.OpenRouteAsync(open, Auth()).ResponseAsync.WaitAsync(Safety);
        }

        var act = () => client.OpenRouteAsync(open, Auth()).ResponseAsync.WaitAsync(Safety);

        var thrown = (await act.Should().ThrowAsync<RpcException>()).Which;
        thrown.StatusCode.Should().Be(StatusCode.ResourceExhausted);
        thrown.Status.Detail.Should().Be("1,024 direct routes wait for their connection on this worker already; a ticket is good for 30 s. Connect with the tickets issued before asking for more.");
        host.Runtime.Executors!.Streams.Should().Be(DirectRouteTable.MaxWaiting);
        time.Advance(DirectRoute.TicketLifetime);
        await Eventually.HoldsAsync(() => host.Runtime.Executors.Streams == 0, "the expired tickets to release their executor");
        (await client.OpenRouteAsync(open, Auth()).ResponseAsync.WaitAsync(Safety)).RouteId.Length.Should().Be(DirectRoute.RouteIdBytes);
    }

    [LinuxFact]
    public async Task Route_TaskRunning_CountsAsWorkForTheDaemonsIdleTimeoutUntilItEnds()
    {
        using var cache = new TempDirectory();
        await using var host = await StartHostAsync(cache.Path);
        await using var cluster = await Cluster.ConnectAsync([new WorkerEndpoint(host.Address)], Token).WaitAsync(Safety);
        using var gate = new TaskGate();

        var running = cluster.SubmitAsync(TestJobs.IdentityWhenReleasedAsync, 5, gate.Folder);
        await Eventually.HoldsAsync(() => host.Runtime.Activity.RunningTasks == 1, "the executor to report the running task");
        var withoutWork = host.Runtime.Activity.WithoutWork();
        gate.Release();
        var result = await running.WaitAsync(Safety);
        await Eventually.HoldsAsync(() => host.Runtime.Activity.RunningTasks == 0, "the executor to report that nothing runs");

        withoutWork.Should().Be(TimeSpan.Zero);
        result.Should().Be(5);
        host.Runtime.Activity.WithoutWork().Should().BeLessThan(TimeSpan.FromSeconds(10), "the task's end counts as work just done");
    }

    [LinuxFact]
    public async Task Route_WhileHundredsOfTicketsWaitForTheirConnection_RunsItsTaskAtOnceNotWhenTheyExpire()
    {
        using var cache = new TempDirectory();
        await using var host = await StartHostAsync(cache.Path);
        using var channel = GrpcChannel.ForAddress(host.Address);
        var client = new Coiled.Remote.Transport.Protocol.Worker.WorkerClient(channel);
        var ticket = await OpenRouteAsync(client);
        var open = new OpenEnvironment { EnvironmentId = ticket.Ready.EnvironmentId };
        for (var i = 0; i < 300; i++)
        {
            // Each holds a connection to the executor until its client connects, or for the ticket's 30 s.
            await client.OpenRouteAsync(open, Auth()).ResponseAsync.WaitAsync(Safety);
        }

        var elapsed = System.Diagnostics.Stopwatch.StartNew();
        using var route = await ConnectAsync(host, ticket.RouteId.Span);
        route.Write(ticket.Secret.Span);
        await ReadAsync(route);
        Send(route, new RunRequest { Tasks = IdentityBatches.Of([7]) });
        var result = Deserialize((await ReadAsync(route))!.Value);

        result.Should().Equal(7);
        elapsed.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(10), "tickets waiting for their connection hold no thread the executor's tasks need");
        host.Runtime.Routes!.Waiting.Should().Be(300);
    }

    [LinuxFact]
    public async Task Route_SecretSentAByteEveryTwoSeconds_IsClosedOnceTheOpeningTimeoutIsOver()
    {
        using var cache = new TempDirectory();
        await using var host = await StartHostAsync(cache.Path);
        using var channel = GrpcChannel.ForAddress(host.Address);
        var ticket = await OpenRouteAsync(new Coiled.Remote.Transport.Protocol.Worker.WorkerClient(channel));
        using var route = await ConnectAsync(host, ticket.RouteId.Span);
        var elapsed = System.Diagnostics.Stopwatch.StartNew();

        var sent = 0;
        while (sent < DirectRoute.SecretBytes && !route.Stream.Socket.Poll(2_000_000, SelectMode.SelectRead))
        {
            try
            {
                // Each read of the opening gets its byte well within the timeout; the opening as a whole does not.
                route.Write(ticket.Secret.Span.Slice(sent, 1));
                sent++;
            }
            catch (IOException)
            {
                break;
            }
        }

        (await PeerClose.ReadOrResetAsync(route.Stream)).Should().Be(0, "the executor closed the connection unanswered");
        elapsed.Elapsed.Should().BeGreaterThan(DirectStream.OpeningTimeout - TimeSpan.FromSeconds(1)).And.BeLessThan(DirectStream.OpeningTimeout + TimeSpan.FromSeconds(5));
        sent.Should().BeLessThan(DirectRoute.SecretBytes);
    }

    [LinuxFact]
    public async Task Cluster_ExecutorKilledWhileTasksAreBeingSent_ReopensTheRouteOnTheSameWorkerAndRunsEveryTask()
    {
        using var cache = new TempDirectory();
        using var gate = new TaskGate();
        await using var host = await StartHostAsync(cache.Path);
        await using var cluster = await Cluster.ConnectAsync([new WorkerEndpoint(host.Address)], Token).WaitAsync(Safety);
        var executor = await cluster.SubmitAsync(TestJobs.ProcessId, 0).WaitAsync(Safety);
        var running = cluster.SubmitAsync(TestJobs.IdentityWhenReleasedAsync, 5, gate.Folder);
        await gate.WaitUntilAsync(started => started.Count == 1, "the gated task to run");

        using (var process = System.Diagnostics.Process.GetProcessById(executor))
        {
            process.Kill();
        }

        // Sent while, and after, the route's connection breaks.
        var more = new List<Task<int>>();
        for (var i = 0; i < 200; i++)
        {
            more.Add(cluster.SubmitAsync(TestJobs.Identity, i));
            if (i % 20 == 0)
            {
                await Task.Delay(1);
            }
        }

        gate.Release();
        var gated = await running.WaitAsync(Safety);
        var identities = await Task.WhenAll(more).WaitAsync(Safety);

        gated.Should().Be(5);
        identities.Should().Equal(Enumerable.Range(0, 200));
        cluster.Workers.Should().ContainSingle().Which.State.Should().Be(WorkerState.Ready, "only its executor died; the worker reopened its route");
        (await cluster.SubmitAsync(TestJobs.ProcessId, 0).WaitAsync(Safety)).Should().NotBe(executor);
    }

    private static Task<WorkerHost> StartHostAsync(string cache, TimeProvider? time = null, ClusterCertificate? certificate = null, bool directRoutes = true)
        => WorkerHost.StartAsync(new WorkerHostOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Token = Token,
            CacheDirectory = cache,
            Slots = 2,
            TimeProvider = time ?? TimeProvider.System,
            Certificate = certificate?.Certificate,
            Executors = new ExecutorOptions
            {
                FileName = Environment.ProcessPath!,
                Arguments = [Path.Combine(AppContext.BaseDirectory, "coiled-remote-worker.dll")],
                KeepSpare = false,
                DirectRoutes = directRoutes,
            },
        }, CancellationToken.None);

    /// <summary>Synchronizes the test assembly's folder and opens a route to its environment.</summary>
    private static async Task<RouteTicket> OpenRouteAsync(Coiled.Remote.Transport.Protocol.Worker.WorkerClient client)
    {
        var snapshot = ApplicationFolder.Scan(AppContext.BaseDirectory, TestAssembly, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance).SnapshotFor(RuntimePlatform.Current);
        var synced = await EnvironmentUploader.SyncAsync(client, snapshot, Auth(), null, CancellationToken.None).WaitAsync(Safety);
        return await client.OpenRouteAsync(new OpenEnvironment { EnvironmentId = synced.EnvironmentId }, Auth()).ResponseAsync.WaitAsync(Safety);
    }

    private static Task<RawRoute> ConnectAsync(WorkerHost host, ReadOnlySpan<byte> routeId) => ConnectAsync(host, DirectRoute.OpeningFor(routeId));

    private static async Task<RawRoute> ConnectAsync(WorkerHost host, byte[] opening)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, host.Address.Port);
        var stream = new NetworkStream(socket, ownsSocket: true);
        await stream.WriteAsync(opening);
        return new RawRoute(stream);
    }

    private static void Send(RawRoute route, RunRequest request)
    {
        var arguments = request.Tasks.Arguments;
        request.Tasks.Arguments = ByteString.Empty;
        route.Frames.Write(request, arguments.Span);
    }

    private static Task<FrameStream.Frame<RunReply>?> ReadAsync(RawRoute route) => Task.Run(() => route.Frames.Read(RunReply.Parser)).WaitAsync(Safety);

    private static List<int> Deserialize(FrameStream.Frame<RunReply> frame)
    {
        var reader = new MessagePackReader(frame.Data);
        var values = new List<int>();
        while (!reader.End)
        {
            values.Add(reader.ReadInt32());
        }

        return values;
    }

    private static CallOptions Auth() => new(new Metadata { { WireLimits.AuthorizationHeader, WireLimits.BearerPrefix + Token } });

    /// <summary>A direct route's connection driven by hand: the raw stream, and frames on it.</summary>
    private sealed class RawRoute(NetworkStream stream) : IDisposable
    {
        public NetworkStream Stream { get; } = stream;

        public FrameStream Frames { get; } = new(stream);

        public void Write(ReadOnlySpan<byte> bytes) => Stream.Write(bytes);

        public void Dispose() => Frames.Dispose();
    }
}
