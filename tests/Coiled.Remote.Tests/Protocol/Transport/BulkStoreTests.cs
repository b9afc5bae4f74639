using Coiled.Remote.Transport;
using Grpc.Core;
using Microsoft.Extensions.Time.Testing;

namespace Coiled.Remote.Tests.Protocol.Transport;

/// <summary>Where bulk-data arguments wait for the task batch that names them, whichever of the two arrives first.</summary>
public sealed class BulkStoreTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public async Task TakeAsync_BlobDeliveredFirst_ReturnsItAndForgetsIt()
    {
        var store = new BulkStore(Timeout, _time);
        var payload = Payload(1, 2, 3);
        store.Deliver(7, payload);

        var taken = await store.TakeAsync(7, CancellationToken.None);

        taken.Data.ToArray().Should().Equal(1, 2, 3);
        store.Count.Should().Be(0);
        taken.Buffer.Release();
    }

    [Fact]
    public async Task TakeAsync_ClaimedBlob_IsLeftToItsClaimantWhenTheTimeoutPasses()
    {
        var store = new BulkStore(Timeout, _time);
        store.Deliver(8, Payload(5, 6));
        var taken = await store.TakeAsync(8, CancellationToken.None);

        _time.Advance(Timeout * 2);

        taken.Data.ToArray().Should().Equal(5, 6);
        taken.Buffer.Release();
        var use = () => taken.Buffer.Array;
        use.Should().Throw<ObjectDisposedException>("the claimant's release was the only one");
    }

    [Fact]
    public async Task TakeAsync_BatchFirst_WaitsForTheBlob()
    {
        var store = new BulkStore(Timeout, _time);
        var taking = store.TakeAsync(9, CancellationToken.None);
        taking.IsCompleted.Should().BeFalse();

        store.Deliver(9, Payload(4));
        var taken = await taking.WaitAsync(TimeSpan.FromSeconds(30));

        taken.Data.ToArray().Should().Equal(4);
        taken.Buffer.Release();
    }

    [Fact]
    public async Task TakeAsync_BlobNeverArrives_FailsWithDataLossAfterTheTimeout()
    {
        var store = new BulkStore(Timeout, _time);
        var taking = store.TakeAsync(11, CancellationToken.None);

        _time.Advance(Timeout + TimeSpan.FromSeconds(1));
        var act = () => taking.WaitAsync(TimeSpan.FromSeconds(30));

        var thrown = (await act.Should().ThrowAsync<RpcException>()).Which;
        thrown.StatusCode.Should().Be(StatusCode.DataLoss);
        thrown.Status.Detail.Should().Be("The data announced as bulk blob 11 did not arrive on the bulk-data connection within 120 s.");
        store.Count.Should().Be(0);
    }

    [Fact]
    public async Task Deliver_BlobNeverClaimed_IsReleasedAfterTheTimeout()
    {
        var store = new BulkStore(Timeout, _time);
        var payload = Payload(1);
        store.Deliver(13, payload);

        _time.Advance(Timeout + TimeSpan.FromSeconds(1));

        store.Count.Should().Be(0);
        var use = () => payload.Buffer.Array;
        use.Should().Throw<ObjectDisposedException>("the store let go of the only hold");
        var late = store.TakeAsync(13, CancellationToken.None);
        _time.Advance(Timeout + TimeSpan.FromSeconds(1));
        (await late.Invoking(t => t.WaitAsync(TimeSpan.FromSeconds(30))).Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(StatusCode.DataLoss);
    }

    [Fact]
    public async Task Deliver_SameIdTwice_KeepsTheFirstAndReleasesTheSecond()
    {
        var store = new BulkStore(Timeout, _time);
        var first = Payload(1);
        var second = Payload(2);

        store.Deliver(15, first);
        store.Deliver(15, second);
        var taken = await store.TakeAsync(15, CancellationToken.None);

        taken.Data.ToArray().Should().Equal(1);
        var use = () => second.Buffer.Array;
        use.Should().Throw<ObjectDisposedException>();
        taken.Buffer.Release();
    }

    [Fact]
    public async Task Broke_FailsWaitsForBlobsNotYetHereAndLaterOnesUntilReopened()
    {
        var store = new BulkStore(Timeout, _time);
        store.Deliver(20, Payload(1));
        var waiting = store.TakeAsync(21, CancellationToken.None);

        store.Broke(new IOException("the bulk-data connection was closed"));

        (await waiting.Invoking(t => t.WaitAsync(TimeSpan.FromSeconds(30))).Should().ThrowAsync<IOException>()).Which.Message.Should().Be("A bulk blob cannot arrive: the bulk-data connection was closed");
        (await store.Invoking(s => s.TakeAsync(22, CancellationToken.None)).Should().ThrowAsync<IOException>()).Which.Message.Should().Be("Bulk blob 22 cannot arrive: the bulk-data connection was closed");
        var arrived = await store.TakeAsync(20, CancellationToken.None);
        arrived.Data.ToArray().Should().Equal(1);
        arrived.Buffer.Release();

        store.Reopened();
        var later = store.TakeAsync(23, CancellationToken.None);
        store.Deliver(23, Payload(9));
        (await later.WaitAsync(TimeSpan.FromSeconds(30))).Data.ToArray().Should().Equal(9);
        store.Count.Should().Be(0);
    }

    [Fact]
    public async Task TakeAsync_Cancelled_ForgetsTheWait()
    {
        var store = new BulkStore(Timeout, _time);
        using var cancel = new CancellationTokenSource();
        var taking = store.TakeAsync(17, cancel.Token);

        await cancel.CancelAsync();

        await taking.Invoking(t => t.WaitAsync(TimeSpan.FromSeconds(30))).Should().ThrowAsync<OperationCanceledException>();
        store.Count.Should().Be(0);
    }

    [Fact]
    public async Task UnclaimedBytes_CountDeliveredBlobsUntilClaimedOrDropped()
    {
        var store = new BulkStore(Timeout, _time);

        store.Deliver(30, Payload(1, 2, 3));
        store.Deliver(31, Payload(4, 5));
        store.UnclaimedBytes.Should().Be(5);
        (await store.TakeAsync(30, CancellationToken.None)).Buffer.Release();
        store.UnclaimedBytes.Should().Be(2);
        _time.Advance(Timeout + TimeSpan.FromSeconds(1));

        store.UnclaimedBytes.Should().Be(0);
        store.Count.Should().Be(0);
    }

    [Fact]
    public async Task Deliver_PassingTheCap_ReleasesTheBlobAndItsBatchFailsWithResourceExhausted()
    {
        var store = new BulkStore(Timeout, _time, maxUnclaimedBytes: 5);
        store.Deliver(40, Payload(1, 2, 3, 4));
        var second = Payload(5, 6);

        store.Deliver(41, second);
        var act = () => store.TakeAsync(41, CancellationToken.None);

        (await act.Should().ThrowAsync<RpcException>()).Which.Status.Detail.Should().Be(
            "The worker refused the 2 bytes of bulk blob 41: blobs that arrived on bulk-data connections and that no task batch has claimed " +
            "already hold 4 of the 5 bytes a worker keeps for them (an unclaimed blob is dropped after 120 s). " +
            "Send the task batch that names each blob right after it; for a large input that many tasks share, use Cluster.ShareAsync.");
        var use = () => second.Buffer.Array;
        use.Should().Throw<ObjectDisposedException>("the refused blob went back to the pool");
        store.UnclaimedBytes.Should().Be(4);
        store.Count.Should().Be(1);
    }

    [Fact]
    public async Task Admits_PastTheCap_IsFalseUnlessABatchAlreadyWaitsForTheBlob()
    {
        var store = new BulkStore(Timeout, _time, maxUnclaimedBytes: 5);
        store.Deliver(50, Payload(1, 2, 3, 4));
        var waiting = store.TakeAsync(52, CancellationToken.None);

        store.Admits(51, 2).Should().BeFalse();
        store.Admits(52, 2).Should().BeTrue();
        store.Deliver(52, Payload(7, 8));

        var taken = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        taken.Data.ToArray().Should().Equal(7, 8);
        taken.Buffer.Release();
        store.UnclaimedBytes.Should().Be(4, "a blob its batch waited for is claimed as it arrives");
        (await store.Invoking(s => s.TakeAsync(51, CancellationToken.None)).Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(StatusCode.ResourceExhausted);
        _time.Advance(Timeout + TimeSpan.FromSeconds(1));
        store.Count.Should().Be(0);
    }

    private static BulkPayload Payload(params byte[] data)
    {
        var buffer = RentedBuffer.Rent(data.Length);
        data.CopyTo(buffer.Array, 0);
        return new BulkPayload(buffer, data.Length);
    }
}
