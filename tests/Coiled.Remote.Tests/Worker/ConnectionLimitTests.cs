using System.Net;
using System.Net.Sockets;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Transport.Protocol;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Tests.Worker;

/// <summary>A worker holds at most so many connections, of every kind together, and closes the rest at once.</summary>
public sealed class ConnectionLimitTests
{
    private const string Token = "connection-limit-token-0123456789";

    [Fact]
    public async Task Connections_BeyondTheLimit_AreClosedAtOnceAndLoggedOnceAMinuteWithACount()
    {
        using var logs = new CapturingLoggerProvider();
        await using var worker = await TestWorker.StartAsync(Token, configure: options => options with { MaxConnections = 3, LoggerFactory = logs.CreateFactory() });
        var bulk = new List<RawBulkConnection>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                bulk.Add(await RawBulkConnection.OpenAsync(worker, Token, channel: 0));
            }

            await Eventually.HoldsAsync(() => worker.Host.BulkConnections.Activities.Count == 3, "three bulk-data connections to be served");
            var refused = new[] { await ConnectAsync(worker), await ConnectAsync(worker) };

            foreach (var tcp in refused)
            {
                (await PeerClose.ReadOrResetAsync(tcp.GetStream())).Should().Be(0, "every one of the 3 places is taken");
                tcp.Dispose();
            }

            worker.Host.Runtime.Connections.Count.Should().Be(3);
            logs.Entries.Where(e => e.Category == "Coiled.Remote.Worker.RefusalLog").Should().ContainSingle().Which.Should().Match<LogEntry>(e =>
                e.Level == LogLevel.Warning && e.Message ==
                "The worker refused 1 connection(s) from 127.0.0.1 since it last said so (at most once a minute per address): " +
                "the worker already holds 3 connections, its limit (coiled-remote-worker --max-connections); the connection was closed at once");
        }
        finally
        {
            bulk.ForEach(connection => connection.Dispose());
        }
    }

    [Fact]
    public async Task Connections_ThatEnd_GiveTheirPlaceToTheNextOneOfAnyKind()
    {
        await using var worker = await TestWorker.StartAsync(Token, configure: options => options with { MaxConnections = 2 });
        using var first = await RawBulkConnection.OpenAsync(worker, Token, channel: 0);
        var second = await RawBulkConnection.OpenAsync(worker, Token, channel: 0);
        await Eventually.HoldsAsync(() => worker.Host.BulkConnections.Activities.Count == 2, "two bulk-data connections to be served");

        second.Dispose();
        await Eventually.HoldsAsync(() => worker.Host.Runtime.Connections.Count == 1, "the closed bulk-data connection to give its place back");
        using (var channel = GrpcChannel.ForAddress(worker.Host.Address))
        {
            var hello = await HelloAsync(channel, Token);
            hello.WorkerId.Should().Be(worker.Host.WorkerId);
            worker.Host.Runtime.Connections.Count.Should().Be(2);
        }

        await Eventually.HoldsAsync(() => worker.Host.Runtime.Connections.Count == 1, "the closed gRPC connection to give its place back");
    }

    [Fact]
    public async Task Daemon_MaxConnections_RefusesAClientWhileEveryPlaceIsTakenAndServesItOnceOneIsFree()
    {
        await using var daemon = await TestDaemon.StartAsync("--max-connections", "2");
        var first = await RawBulkConnection.OpenAsync(daemon.Address.Port, TestDaemon.Token, channel: 0);
        using var second = await RawBulkConnection.OpenAsync(daemon.Address.Port, TestDaemon.Token, channel: 0);
        try
        {
            using var refused = GrpcChannel.ForAddress(daemon.Address);
            var act = () => HelloAsync(refused, TestDaemon.Token);

            (await act.Should().ThrowAsync<Grpc.Core.RpcException>()).Which.StatusCode.Should().Be(Grpc.Core.StatusCode.Unavailable);
            first.Dispose();
            await Eventually.HoldsAsync(() => TryHello(daemon.Address), "the daemon to serve a client once a bulk-data connection closed");
        }
        finally
        {
            first.Dispose();
        }
    }

    private static bool TryHello(Uri address)
    {
        using var channel = GrpcChannel.ForAddress(address);
        try
        {
            HelloAsync(channel, TestDaemon.Token).GetAwaiter().GetResult();
            return true;
        }
        catch (Grpc.Core.RpcException)
        {
            return false;
        }
    }

    private static Task<HelloReply> HelloAsync(GrpcChannel channel, string token)
        => new Coiled.Remote.Transport.Protocol.Worker.WorkerClient(channel).HelloAsync(
            new HelloRequest { ProtocolVersion = Coiled.Remote.Transport.ProtocolVersion.Current },
            new Grpc.Core.Metadata { { "authorization", "Bearer " + token } }).ResponseAsync;

    private static Task<TcpClient> ConnectAsync(TestWorker worker) => ConnectAsync(worker.Host.Address);

    private static async Task<TcpClient> ConnectAsync(Uri address)
    {
        var tcp = new TcpClient();
        try
        {
            await tcp.ConnectAsync(IPAddress.Loopback, address.Port);
            return tcp;
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }
}
