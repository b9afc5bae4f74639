using System.Collections.Concurrent;
using Coiled.Remote.Synchronization;

namespace Coiled.Remote.Ec2;

/// <summary>
/// The application's files in the staging bucket, for an EC2 cluster's workers to fetch: each distinct file is staged
/// once per cluster (and uploaded only when the bucket does not hold those bytes already), whichever worker asks
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

    public async Task<Uri> StageAsync(string sha256, string path, long size, CancellationToken cancellationToken)
    {
        var staged = _staged.GetOrAdd(sha256, hash => new Lazy<Task<string>>(() => UploadAsync(hash, path, _disposed.Token)));
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

    private async Task<string> UploadAsync(string sha256, string path, CancellationToken cancellationToken)
    {
        await _uploads.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await staging.StageFileAsync(path, sha256, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _uploads.Release();
        }
    }

    /// <summary>Cancels the uploads in progress.</summary>
    public void Dispose() => _disposed.Cancel();
}
