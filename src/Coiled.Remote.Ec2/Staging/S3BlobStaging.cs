using System.Collections.Concurrent;
using Coiled.Remote.Synchronization;
using Coiled.Remote.Transport;

namespace Coiled.Remote.Ec2;

/// <summary>
/// The application's files and large shared argument values in the staging bucket, for an EC2 cluster's workers to
/// fetch: each distinct file or value is staged once per cluster (and uploaded only when the bucket does not hold those bytes already), whichever worker asks
/// first, with a few uploads at a time; every worker then gets a presigned address of it.
/// </summary>
/// <remarks>
/// An upload serves every worker that waits for it, so it belongs to none of them: a worker that stops waiting (its
/// sync cancelled) does not cancel it for the others; disposing the staging does.
/// </remarks>
internal sealed class S3BlobStaging(S3Staging staging, TimeSpan validFor) : IBlobStaging, IDisposable
{
    /// <summary>Uploads at once.</summary>
    public const int Parallelism = 4;

    private readonly ConcurrentDictionary<string, Lazy<Task<string>>> _staged = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _uploads = new(Parallelism, Parallelism);
    private readonly CancellationTokenSource _disposed = new();

    public Task<Uri> StageAsync(string sha256, string path, long size, CancellationToken cancellationToken)
        => StageAsync(sha256, () => UploadAsync(token => staging.StageFileAsync(path, sha256, token)), cancellationToken);

    public Task<Uri> StageAsync(string sha256, RentedBuffer content, int size, CancellationToken cancellationToken)
        => StageAsync(sha256, async () =>
        {
            // The upload may outlive the caller's hold on the bytes (see the remarks); this hold is taken before the
            // caller's first await, and so before it may let go of its own.
            content.Retain();
            try
            {
                return await UploadAsync(token => staging.StageBytesAsync(new ArraySegment<byte>(content.Array, 0, size), sha256, token)).ConfigureAwait(false);
            }
            finally
            {
                content.Release();
            }
        }, cancellationToken);

    private async Task<Uri> StageAsync(string sha256, Func<Task<string>> upload, CancellationToken cancellationToken)
    {
        var staged = _staged.GetOrAdd(sha256, _ => new Lazy<Task<string>>(upload));
        string key;
        try
        {
            key = await staged.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch when (staged.Value.IsFaulted || staged.Value.IsCanceled)
        {
            // The next worker that needs it tries again.
            _staged.TryRemove(new KeyValuePair<string, Lazy<Task<string>>>(sha256, staged));
            throw;
        }

        return await staging.PresignAsync(key, validFor).ConfigureAwait(false);
    }

    private async Task<string> UploadAsync(Func<CancellationToken, Task<string>> upload)
    {
        var cancellationToken = _disposed.Token;
        await _uploads.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await upload(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _uploads.Release();
        }
    }

    /// <summary>Cancels the uploads in progress.</summary>
    public void Dispose() => _disposed.Cancel();
}
