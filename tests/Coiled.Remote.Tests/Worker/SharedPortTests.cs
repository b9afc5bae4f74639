using System.Net;
using System.Net.Sockets;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;

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
        var blob = await _worker.Host.Runtime.Bulk.TakeAsync(id, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        var hello = await _worker.Client.HelloAsync(new HelloRequest { ProtocolVersion = ProtocolVersion.Current }, Auth());

        channel.IsLocal.Should().BeFalse();
        blob.Data.ToArray().Should().Equal(data);
        blob.Buffer.Release();
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
    public async Task Connection_SendingHttp1OnTheGrpcPort_IsRefusedAndTheWorkerServesOn()
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, _worker.Host.Address.Port);
        var stream = tcp.GetStream();

        await stream.WriteAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        var reply = new byte[256];
        var length = 0;
        using (var safety = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            try
            {
                int read;
                while (length < reply.Length && (read = await stream.ReadAsync(reply.AsMemory(length), safety.Token)) > 0)
                {
                    length += read;
                }
            }
            catch (IOException)
            {
                // Reset after the refusal.
            }
        }

        // Kestrel refuses an HTTP/1 request on its HTTP/2-only endpoint; nothing of the worker protocol answers it.
        System.Text.Encoding.ASCII.GetString(reply, 0, length).Should().StartWith("HTTP/1.1 400 ");
        (await _worker.Client.HelloAsync(new HelloRequest { ProtocolVersion = ProtocolVersion.Current }, Auth())).WorkerId.Should().Be(_worker.Host.WorkerId);
    }

    private static Grpc.Core.CallOptions Auth() => new(new Grpc.Core.Metadata { { "authorization", "Bearer " + Token } });
}
