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
internal sealed class S3Staging(IAmazonS3 s3, string bucket, Uri? serviceUrl, TimeProvider time, ILogger logger)
{
    private long _bytesUploaded;

    /// <summary>The staging bucket.</summary>
    public string Bucket => bucket;

    /// <summary>Bytes this caller sent to S3 so far.</summary>
    public long BytesUploaded => Interlocked.Read(ref _bytesUploaded);

    /// <summary>The object key of content with SHA-256 <paramref name="sha256"/> (lowercase hex).</summary>
    public static string ContentKey(string sha256) => $"sha256/{sha256}";

    /// <summary>Makes sure the bucket holds the file at <paramref name="path"/>, whose SHA-256 is <paramref name="sha256"/>; returns its key.</summary>
    public async Task<string> StageFileAsync(string path, string sha256, CancellationToken cancellationToken)
    {
        var key = ContentKey(sha256);
        var size = new FileInfo(path).Length;
        if (await SizeOfAsync(key, cancellationToken).ConfigureAwait(false) == size)
        {
            logger.AlreadyStaged(key, size);
            return key;
        }

        await s3.PutObjectAsync(new PutObjectRequest
        {
            BucketName = bucket,
            Key = key,
            FilePath = path,
            ContentType = "application/octet-stream",

            // S3 checks the content against this and refuses an upload that was altered on the way.
            ChecksumSHA256 = Convert.ToBase64String(Convert.FromHexString(sha256)),
            UseChunkEncoding = false,
        }, cancellationToken).ConfigureAwait(false);
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
            InputStream = body,
            ContentType = "application/octet-stream",
            UseChunkEncoding = false,
        }, cancellationToken).ConfigureAwait(false);
        Interlocked.Add(ref _bytesUploaded, content.Length);
    }

    /// <summary>Deletes an object; deleting one that is gone is no error.</summary>
    public Task DeleteAsync(string key, CancellationToken cancellationToken)
        => s3.DeleteObjectAsync(new DeleteObjectRequest { BucketName = bucket, Key = key }, cancellationToken);

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

    private async Task<long?> SizeOfAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            var metadata = await s3.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = bucket, Key = key }, cancellationToken).ConfigureAwait(false);
            return metadata.ContentLength;
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }
}
