using System.Net;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Ec2;

/// <summary>
/// Puts what instances fetch into the staging bucket and hands out presigned GET addresses for it, so that an
/// instance needs no AWS identity of its own. Content is keyed by its SHA-256 and uploaded only when the bucket does
/// not hold it yet: the same bits cross the caller's uplink once, however many instances and clusters fetch them.
/// </summary>
/// <remarks>
/// Every call names the account that must own the bucket (<paramref name="accountId"/>), so that nothing is written to,
/// or read from, a bucket of that name that another account created.
/// </remarks>
internal sealed class S3Staging(IAmazonS3 s3, string bucket, string accountId, Uri? serviceUrl, TimeProvider time, ILogger logger)
{
    /// <summary>
    /// Content staged longer ago than this is uploaded again rather than used: the bucket's lifecycle removes objects a
    /// day after they were written, and what is staged must outlive a cluster of the default lifetime that uses it.
    /// </summary>
    public static readonly TimeSpan FreshFor = TimeSpan.FromDays(StagingBucket.ExpiryDays) - Ec2Options.DefaultMaxLifetime;

    private long _bytesUploaded;

    /// <summary>The staging bucket.</summary>
    public string Bucket => bucket;

    /// <summary>Bytes this caller sent to S3 so far.</summary>
    public long BytesUploaded => Interlocked.Read(ref _bytesUploaded);

    /// <summary>The object key of content with SHA-256 <paramref name="sha256"/> (lowercase hex).</summary>
    public static string ContentKey(string sha256) => $"sha256/{sha256}";

    /// <summary>Makes sure the bucket holds the file at <paramref name="path"/>, whose SHA-256 is <paramref name="sha256"/>; returns its key.</summary>
    public Task<string> StageFileAsync(string path, string sha256, CancellationToken cancellationToken)
        => StageAsync(sha256, new FileInfo(path).Length, request => request.FilePath = path, cancellationToken);

    /// <summary>Makes sure the bucket holds <paramref name="content"/>, whose SHA-256 is <paramref name="sha256"/>; returns its key.</summary>
    public Task<string> StageBytesAsync(ArraySegment<byte> content, string sha256, CancellationToken cancellationToken)
        => StageAsync(sha256, content.Count, request => request.InputStream = new MemoryStream(content.Array!, content.Offset, content.Count, writable: false), cancellationToken);

    private async Task<string> StageAsync(string sha256, long size, Action<PutObjectRequest> setContent, CancellationToken cancellationToken)
    {
        var key = ContentKey(sha256);
        if (await IsStagedAsync(key, sha256, size, cancellationToken).ConfigureAwait(false))
        {
            logger.AlreadyStaged(key, size);
            return key;
        }

        var put = new PutObjectRequest
        {
            BucketName = bucket,
            Key = key,
            ExpectedBucketOwner = accountId,
            ContentType = "application/octet-stream",

            // S3 checks the content against this and refuses an upload that was altered on the way.
            ChecksumSHA256 = Convert.ToBase64String(Convert.FromHexString(sha256)),
            UseChunkEncoding = false,
        };
        setContent(put);
        await s3.PutObjectAsync(put, cancellationToken).ConfigureAwait(false);
        Interlocked.Add(ref _bytesUploaded, size);
        logger.Staged(key, size, bucket);
        return key;
    }

    /// <summary>Writes a small private object (the boot secrets), encrypted at rest like everything in the bucket.</summary>
    public async Task PutAsync(string key, byte[] content, CancellationToken cancellationToken)
    {
        using var body = new MemoryStream(content, writable: false);
        await s3.PutObjectAsync(new PutObjectRequest
        {
            BucketName = bucket,
            Key = key,
            ExpectedBucketOwner = accountId,
            InputStream = body,
            ContentType = "application/octet-stream",
            UseChunkEncoding = false,
        }, cancellationToken).ConfigureAwait(false);
        Interlocked.Add(ref _bytesUploaded, content.Length);
    }

    /// <summary>Deletes an object; deleting one that is gone is no error.</summary>
    public Task DeleteAsync(string key, CancellationToken cancellationToken)
        => s3.DeleteObjectAsync(new DeleteObjectRequest { BucketName = bucket, Key = key, ExpectedBucketOwner = accountId }, cancellationToken);

    /// <summary>An address that lets anyone holding it GET the object until <paramref name="validFor"/> has passed.</summary>
    public async Task<Uri> PresignAsync(string key, TimeSpan validFor)
    {
        var address = await s3.GetPreSignedURLAsync(new GetPreSignedUrlRequest
        {
            BucketName = bucket,
            Key = key,
            Verb = HttpVerb.GET,
            Expires = (time.GetUtcNow() + validFor).UtcDateTime,
            Protocol = serviceUrl?.Scheme == Uri.UriSchemeHttp ? Protocol.HTTP : Protocol.HTTPS,
        }).ConfigureAwait(false);
        return new Uri(address);
    }

    /// <summary>
    /// True when the bucket holds the content already: the object's size is right, its SHA-256 (when S3 kept one) is
    /// right, and it was written recently enough not to expire while it is used.
    /// </summary>
    private async Task<bool> IsStagedAsync(string key, string sha256, long size, CancellationToken cancellationToken)
    {
        GetObjectMetadataResponse metadata;
        try
        {
            metadata = await s3.GetObjectMetadataAsync(new GetObjectMetadataRequest
            {
                BucketName = bucket,
                Key = key,
                ExpectedBucketOwner = accountId,
                ChecksumMode = ChecksumMode.ENABLED,
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }

        var checksum = Convert.ToBase64String(Convert.FromHexString(sha256));
        return metadata.ContentLength == size
            && (string.IsNullOrEmpty(metadata.ChecksumSHA256) || metadata.ChecksumSHA256 == checksum)
            && metadata.LastModified is { } written
            && time.GetUtcNow() - new DateTimeOffset(DateTime.SpecifyKind(written, DateTimeKind.Utc)) < FreshFor;
    }
}
