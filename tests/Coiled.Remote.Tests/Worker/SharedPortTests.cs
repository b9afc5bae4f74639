using System.Net;
using System.Net.Sockets;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Coiled.Remote.Worker;
using Microsoft.Extensions.Time.Testing;

namespace Coiled.Remote.Tests.Worker;

/// <summary>The worker's one port carries gRPC and bulk data, told apart by the first byte of each connection.</summary>
public sealed class SharedPortTests : IAsyncLifetime
{
    private const string Token = "shared-port-token-0123456789";
    private TestWorker _worker = null!;

    public async Task InitializeAsync() => _worker = await TestWorker.StartAsync(Token);

    public async Task DisposeAsync() => await _worker.DisposeAsync();

    [Fact]
    public async Task Hello_OffersBulkDataOnTheWorkersOwnPort()
    {
        var hello = await _worker.Client.HelloAsync(new HelloRequest { ProtocolVersion = ProtocolVersion.Current }, Auth());

        hello.BulkPort.Should().Be(_worker.Host.Address.Port);
    }

    [Fact]
    public async Task BulkChannel_OverTcpToTheGrpcPort_DeliversTheBlobWholeWhileGrpcServesOn()
    {
        var data = new byte[2 * 1024 * 1024 + 7];
        new Random(5).NextBytes(data);

        // No Unix socket name: the blob goes over TCP, to the same port as the gRPC calls around it.
        await using var channel = new BulkChannel("127.0.0.1", _worker.Host.Address.Port, localName: null, Token, certificateThumbprint: null);
        var id = await channel.SendAsync(data, CancellationToken.None);
        var payload = await _worker.Host.Runtime.Bulk.TakeAsync(id, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        var hello = await _worker.Client.HelloAsync(new HelloRequest { ProtocolVersion = ProtocolVersion.Current }, Auth());

        channel.IsLocal.Should().BeFalse();
        payload.Data.ToArray().Should().Equal(data);
        payload.Buffer.Release();
        hello.WorkerId.Should().Be(_worker.Host.WorkerId);
    }

    [Fact]
    public async Task Connection_StartingWithNulButNotThePreamble_IsClosedAndNothingIsDelivered()
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, _worker.Host.Address.Port);
        var stream = tcp.GetStream();
        var header = new byte[BulkFrame.BlobHeaderBytes];
        BulkFrame.WriteBlobHeader(header, 44, 4);

        await stream.WriteAsync((byte[])[0x00, .. "NOTBULK"u8, .. BulkFrame.Hello(Token, 0), .. header, 1, 2, 3, 4]);
        var read = await PeerClose.ReadOrResetAsync(stream);

        read.Should().Be(0, "a connection that is neither HTTP/2 nor a bulk-data preamble is closed");
        _worker.Host.Runtime.Bulk.Count.Should().Be(0);
    }

    [Fact]
    public async Task Connection_SendingHttp1OnTheGrpcPort_IsClosedUnansweredAndTheWorkerServesOn()
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, _worker.Host.Address.Port);
        var stream = tcp.GetStream();

        await stream.WriteAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        var read = await PeerClose.ReadOrResetAsync(stream);

        // Neither the HTTP/2 preface nor TLS: closed before Kestrel sees it, so nothing answers.
        read.Should().Be(0);
        (await _worker.Client.HelloAsync(new HelloRequest { ProtocolVersion = ProtocolVersion.Current }, Auth())).WorkerId.Should().Be(_worker.Host.WorkerId);
    }

    [Theory]
    [InlineData("50")]
    [InlineData("505249202a20485454502f322e300d0a")]
    [InlineData("16030100")]
    public async Task Connection_SendingOnlyPartOfItsOpening_IsClosedWhenTheRoutingDeadlinePasses(string opening)
    {
        var time = new RoutingDeadlineTimeProvider();
        await using var worker = await TestWorker.StartAsync(Token, time: time);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, worker.Host.Address.Port);
        var stream = tcp.GetStream();

        await stream.WriteAsync(Convert.FromHexString(opening));
        await time.RoutingDeadlineSet.WaitAsync(TimeSpan.FromSeconds(30));
        time.Advance(SharedPortListener.RoutingTimeout);
        var read = await PeerClose.ReadOrResetAsync(stream);

        read.Should().Be(0, "a connection that has not sent the whole HTTP/2 preface or a TLS record header within the deadline is closed");
        (await worker.Client.HelloAsync(new HelloRequest { ProtocolVersion = ProtocolVersion.Current }, Auth())).WorkerId.Should().Be(worker.Host.WorkerId);
    }

    [Fact]
    public async Task Connections_FromOneAddressBeyondItsShareOfRoutingPlaces_AreClosedAtOnceWhileOtherAddressesAreServed()
    {
        var silent = new List<Socket>();
        try
        {
            for (var i = 0; i <= SharedPortListener.MaxRoutingPerAddress; i++)
            {
                // 127.0.0.2 is this machine too, and another address than the 127.0.0.1 the gRPC client comes from.
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                silent.Add(socket);
                socket.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
                await socket.ConnectAsync(IPAddress.Loopback, _worker.Host.Address.Port);
            }

            await using var last = new NetworkStream(silent[^1]);
            var read = await PeerClose.ReadOrResetAsync(last);
            var hello = await _worker.Client.HelloAsync(new HelloRequest { ProtocolVersion = ProtocolVersion.Current }, Auth());

            read.Should().Be(0, $"{SharedPortListener.MaxRoutingPerAddress} connections from 127.0.0.2 already wait to say what they are");
            hello.WorkerId.Should().Be(_worker.Host.WorkerId);
        }
        finally
        {
            silent.ForEach(s => s.Dispose());
        }
    }

    [Theory]
    [InlineData("", SharedPortListener.Route.Wait)]
    [InlineData("00", SharedPortListener.Route.Bulk)]
    [InlineData("5052", SharedPortListener.Route.Wait)]
    [InlineData("505249202a20485454502f322e300d0a0d0a534d0d0a0d0a", SharedPortListener.Route.Http)]
    [InlineData("505249202a20485454502f322e300d0a0d0a534d0d0a0d0b", SharedPortListener.Route.Refuse)]
    [InlineData("474554", SharedPortListener.Route.Refuse)]
    [InlineData("16030100", SharedPortListener.Route.Wait)]
    [InlineData("1603010200", SharedPortListener.Route.Http)]
    [InlineData("1601", SharedPortListener.Route.Refuse)]
    internal void Classify_Opening_SaysWhereItGoes(string opening, SharedPortListener.Route route)
        => SharedPortListener.Classify(Convert.FromHexString(opening)).Should().Be(route);

    private static Grpc.Core.CallOptions Auth() => new(new Grpc.Core.Metadata { { "authorization", "Bearer " + Token } });

    /// <summary>Fake time that says when a connection's routing deadline was set, so that the test advances past it and not before.</summary>
    private sealed class RoutingDeadlineTimeProvider : FakeTimeProvider
    {
        private readonly TaskCompletionSource _set = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task RoutingDeadlineSet => _set.Task;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = base.CreateTimer(callback, state, dueTime, period);
            if (dueTime == SharedPortListener.RoutingTimeout)
            {
                _set.TrySetResult();
            }

            return timer;
        }
    }
}
