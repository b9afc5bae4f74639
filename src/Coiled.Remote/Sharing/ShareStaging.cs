using Coiled.Remote.Synchronization;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Grpc.Core;

namespace Coiled.Remote.Sharing;

/// <summary>
/// Sends a large shared value to one worker through the cluster's staging storage (<see cref="IBlobStaging"/>, the S3
/// bucket of an EC2 cluster) instead of over the worker's connection: the caller uploads each value there once for the
/// whole cluster, the worker fetches it into its blob store (<c>Fetch</c>, verified against the value's hash), and the
/// <c>ShareValue</c> that then goes on the task stream only names it (<c>staged</c>).
/// </summary>
internal sealed class ShareStaging(IBlobStaging staging, Transport.Protocol.Worker.WorkerClient client, CallOptions call)
{
    /// <summary>
    /// The least size of a value that goes through staging: below it, the round trips to the storage cost more than
    /// sending the value to each worker saves.
    /// </summary>
    public const int ThresholdBytes = 1024 * 1024;

    /// <summary>Whether <paramref name="share"/> is large enough to go through staging.</summary>
    public static bool Applies(ShareValue share) => share.Value.Length >= ThresholdBytes;

    /// <summary>
    /// Stages the value of <paramref name="share"/>, whose bytes <paramref name="bytes"/> holds, has the worker fetch it,
    /// and turns <paramref name="share"/> into the message that names it. Leaves <paramref name="share"/> as it was when
    /// it fails. Returns the bytes the worker fetched: 0 when it held the value already.
    /// </summary>
    public async Task<long> StageAsync(ShareValue share, RentedBuffer bytes, CancellationToken cancellationToken)
    {
        var size = share.Value.Length;
        var address = await staging.StageAsync(Convert.ToHexStringLower(share.Sha256.Span), bytes, size, cancellationToken).ConfigureAwait(false);
        var fetch = new FetchRequest { Blobs = { new FetchBlob { Sha256 = share.Sha256, Size = size, Url = address.AbsoluteUri } }, SharedValues = true };
        var fetched = await client.FetchAsync(fetch, call.WithCancellationToken(cancellationToken)).ConfigureAwait(false);
        share.Value = Google.Protobuf.ByteString.Empty;
        share.Staged = true;
        return fetched.BytesStored;
    }
}
