using Coiled.Remote.Tests.Support;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Google.Protobuf;
using Grpc.Core;

namespace Coiled.Remote.Tests.Worker;

/// <summary>
/// What an authenticated bulk-data connection may hold on the worker: memory only as a blob's bytes arrive, the
/// connection itself only while something moves on it, and unclaimed blobs only up to a cap.
/// </summary>
public sealed class BulkConnectionTests
{
    private const string Token = "bulk-connection-token-0123456789";
    private const int MiB = 1024 * 1024;

    /// <summary>Distinct from every other timer of the worker, so that the test sees when the watch set its own.</summary>
    private static readonly TimeSpan Idle = TimeSpan.FromMinutes(7);
    private static readonly TimeSpan Stall = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Blob_DeclaringFarMoreThanHasArrived_HoldsAtMostTwiceWhatArrived()
    {
        await using var worker = await TestWorker.StartAsync(Token);
        using var client = await RawBulkConnection.OpenAsync(worker, Token, channel: 0);

        await client.Stream.WriteAsync(Header(5, 400 * MiB));
        await client.Stream.WriteAsync(new byte[3 * MiB / 2]);
        await Eventually.HoldsAsync(() => worker.Host.BulkConnections.Activities is [{ ArrivingReceived: 3 * MiB / 2 }], "1.5 MiB of the blob to arrive");

        // 1 MiB filled and the next 1 MiB being filled: not the 400 MiB the header declares.
        worker.Host.BulkConnections.Activities.Should().ContainSingle().Which.ArrivingHeld.Should().Be(2 * MiB);
        client.Dispose();
        await Eventually.HoldsAsync(() => worker.Host.BulkConnections.Activities.Count == 0, "the worker to see the connection end");
        worker.Host.Runtime.Bulk.Count.Should().Be(0);
    }

    [Fact]
    public async Task Blob_LargerThanTheFirstReservation_ArrivesWholeThroughTheGrowingArrays()
    {
        await using var worker = await TestWorker.StartAsync(Token);
        using var client = await RawBulkConnection.OpenAsync(worker, Token, channel: 0);
        var data = new byte[(5 * MiB) + 3];
        new Random(11).NextBytes(data);

        await client.Stream.WriteAsync(Header(6, data.Length));
        await client.Stream.WriteAsync(data);
        var payload = await worker.Host.Runtime.Bulk.TakeAsync(6, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        payload.Length.Should().Be(data.Length);
        payload.Data.ToArray().Should().Equal(data);
        payload.Buffer.Release();
    }

    [Fact]
    public async Task Connection_IdleForTheIdleTimeout_IsToldGoodbyeAndClosedWhenItsClientKeepsItOpen()
    {
        var time = new TimerSignallingTimeProvider();
        await using var worker = await StartWatchedAsync(time);
        using var client = await RawBulkConnection.OpenAsync(worker, Token, channel: 77);
        await time.WhenTimerSetAsync(Idle);
        await Eventually.HoldsAsync(() => worker.Host.Runtime.ResultChannels.ContainsKey(77), "the connection to become channel 77's result sink");

        time.Advance(Idle);
        var goodbye = new byte[BulkFrame.BlobHeaderBytes];
        await client.Stream.ReadExactlyAsync(goodbye).AsTask().WaitAsync(TimeSpan.FromSeconds(30));

        goodbye.Should().Equal(BulkFrame.Goodbye.ToArray());
        worker.Host.Runtime.ResultChannels.ContainsKey(77).Should().BeFalse("after the goodbye, channel 77's results go in its task stream");
        await time.WhenTimerSetAsync(Stall);
        time.Advance(Stall);
        (await PeerClose.ReadOrResetAsync(client.Stream)).Should().Be(0, "the client kept the connection open for the stall timeout after the goodbye");
        await Eventually.HoldsAsync(() => worker.Host.BulkConnections.Activities.Count == 0, "the worker to let go of the connection");
    }

    [Fact]
    public async Task Blob_SentAfterTheGoodbye_IsStillDelivered()
    {
        var time = new TimerSignallingTimeProvider();
        await using var worker = await StartWatchedAsync(time);
        using var client = await RawBulkConnection.OpenAsync(worker, Token, channel: 0);
        await time.WhenTimerSetAsync(Idle);
        time.Advance(Idle);
        await client.Stream.ReadExactlyAsync(new byte[BulkFrame.BlobHeaderBytes]).AsTask().WaitAsync(TimeSpan.FromSeconds(30));

        // A client that was writing this blob while the goodbye was on its way.
        await client.Stream.WriteAsync((byte[])[.. Header(9, 3), 1, 2, 3]);
        var payload = await worker.Host.Runtime.Bulk.TakeAsync(9, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        payload.Data.ToArray().Should().Equal(1, 2, 3);
        payload.Buffer.Release();
    }

    [Fact]
    public async Task Connection_StalledInsideABlob_IsClosedAfterTheStallTimeoutAndNothingIsDelivered()
    {
        var time = new TimerSignallingTimeProvider();
        await using var worker = await StartWatchedAsync(time);
        using var client = await RawBulkConnection.OpenAsync(worker, Token, channel: 0);
        await time.WhenTimerSetAsync(Idle);

        await client.Stream.WriteAsync((byte[])[.. Header(10, 1000), .. new byte[10]]);
        await time.WhenTimerSetAsync(Stall);
        await Eventually.HoldsAsync(() => worker.Host.BulkConnections.Activities.Single().ArrivingReceived == 10, "the worker to read the blob's first 10 bytes");
        time.Advance(Stall);

        (await PeerClose.ReadOrResetAsync(client.Stream)).Should().Be(0, $"nothing arrived for {Stall} inside the blob, and the stall timeout is shorter than the idle one");
        await Eventually.HoldsAsync(() => worker.Host.BulkConnections.Activities.Count == 0, "the worker to let go of the connection");
        worker.Host.Runtime.Bulk.Count.Should().Be(0);
    }

    [Fact]
    public async Task BulkChannel_ToldGoodbye_ClosesThatConnectionAndSendsTheNextBlobOnANewOne()
    {
        var time = new TimerSignallingTimeProvider();
        await using var worker = await StartWatchedAsync(time);
        await using var channel = new BulkChannel("127.0.0.1", worker.Host.Address.Port, localName: null, Token, certificateThumbprint: null);
        await channel.ConnectAsync(CancellationToken.None);
        await time.WhenTimerSetAsync(Idle);

        time.Advance(Idle);
        await Eventually.HoldsAsync(() => worker.Host.BulkConnections.Activities.Count == 0, "the client to close the connection the worker said goodbye on");
        var id = await channel.SendAsync(new byte[] { 4, 5, 6 }, CancellationToken.None);
        var payload = await worker.Host.Runtime.Bulk.TakeAsync(id, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        payload.Data.ToArray().Should().Equal(4, 5, 6);
        payload.Buffer.Release();
        worker.Host.BulkConnections.Activities.Should().ContainSingle("the blob came on a new connection");
    }

    [Fact]
    public async Task Blob_PassingTheCapOfUnclaimedBytes_IsRefusedAndTheBatchNamingItFailsWithResourceExhausted()
    {
        await using var worker = await TestWorker.StartAsync(Token, hostEnvironment: true, configure: options => options with { MaxUnclaimedBulkBytes = 300_000 });
        await using var channel = new BulkChannel("127.0.0.1", worker.Host.Address.Port, localName: null, Token, certificateThumbprint: null);
        var kept = await channel.SendAsync(new byte[200_000], CancellationToken.None);
        await Eventually.HoldsAsync(() => worker.Host.Runtime.Bulk.UnclaimedBytes == 200_000, "the first blob to arrive");
        var refused = await channel.SendAsync(new byte[200_000], CancellationToken.None);
        await Eventually.HoldsAsync(() => worker.Host.Runtime.Bulk.Count == 2, "the second blob to be refused");

        var auth = new CallOptions(new Metadata { { WireLimits.AuthorizationHeader, WireLimits.BearerPrefix + Token } });
        using var run = worker.Client.Run(auth);
        await run.RequestStream.WriteAsync(new RunRequest { Open = new OpenEnvironment() });
        (await run.ResponseStream.MoveNext()).Should().BeTrue();
        await run.RequestStream.WriteAsync(new RunRequest { Tasks = new TaskBatch { Assembly = "Any", StubId = "Any.Method()", TaskIds = { 1 }, BulkId = refused } });
        var act = () => run.ResponseStream.MoveNext();

        var thrown = (await act.Should().ThrowAsync<RpcException>()).Which;
        thrown.StatusCode.Should().Be(StatusCode.ResourceExhausted);
        thrown.Status.Detail.Should().Be(
            $"The worker refused the 200,000 bytes of bulk blob {refused}: blobs that arrived on bulk-data connections and that no task batch has claimed " +
            "already hold 200,000 of the 300,000 bytes a worker keeps for them (an unclaimed blob is dropped after 120 s). " +
            "Send the task batch that names each blob right after it; for a large input that many tasks share, use Cluster.ShareAsync.");
        worker.Host.Runtime.Bulk.UnclaimedBytes.Should().Be(200_000, $"blob {kept} still waits for its batch");
    }

    private static Task<TestWorker> StartWatchedAsync(TimeProvider time)
        => TestWorker.StartAsync(Token, time: time, configure: options => options with { BulkIdleTimeout = Idle, BulkStallTimeout = Stall });

    private static byte[] Header(ulong id, int length)
    {
        var header = new byte[BulkFrame.BlobHeaderBytes];
        BulkFrame.WriteBlobHeader(header, id, length);
        return header;
    }
}
