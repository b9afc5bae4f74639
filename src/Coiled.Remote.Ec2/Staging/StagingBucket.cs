using System.Net;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Ec2;

/// <summary>
/// The S3 bucket where a region's clusters stage what their instances fetch (the self-contained worker, the boot
/// secrets): one per account and region, created on first use, private (public access blocked, encrypted at rest),
/// with every object expiring a day after it was written. Bucket names are global and this one is predictable, so
/// every call names the account that must own it: a bucket of that name in another account is refused, never used.
/// </summary>
internal static class StagingBucket
{
    /// <summary>Staged objects expire after this many days.</summary>
    public const int ExpiryDays = 1;

    /// <summary>The tag that marks the bucket as Coiled.Remote's, for <c>coiled-remote ec2 ls</c> and cleanup.</summary>
    public const string Tag = "coiled-remote:staging";

    public static string NameFor(string accountId, string region) => $"coiled-remote-staging-{accountId}-{region}";

    /// <summary>Creates the bucket and sets its protection and expiry when it does not exist; returns its name.</summary>
    public static async Task<string> EnsureAsync(IAmazonS3 s3, string accountId, string region, ILogger logger, CancellationToken cancellationToken)
    {
        var name = NameFor(accountId, region);
        if (await ExistsAsync(s3, name, accountId, cancellationToken).ConfigureAwait(false))
        {
            return name;
        }

        try
        {
            await s3.PutBucketAsync(new PutBucketRequest
            {
                BucketName = name,
                BucketRegion = region == "us-east-1" ? null : new S3Region(region),
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonS3Exception ex) when (ex.ErrorCode == "BucketAlreadyOwnedByYou")
        {
            // Another caller of this account created it a moment ago; it configures it too, the same way.
        }
        catch (AmazonS3Exception ex) when (ex.ErrorCode == "BucketAlreadyExists")
        {
            throw TakenByAnotherAccount(name, accountId, ex);
        }

        await s3.PutPublicAccessBlockAsync(new PutPublicAccessBlockRequest
        {
            BucketName = name,
            ExpectedBucketOwner = accountId,
            PublicAccessBlockConfiguration = new PublicAccessBlockConfiguration
            {
                BlockPublicAcls = true,
                BlockPublicPolicy = true,
                IgnorePublicAcls = true,
                RestrictPublicBuckets = true,
            },
        }, cancellationToken).ConfigureAwait(false);
        await s3.PutBucketEncryptionAsync(new PutBucketEncryptionRequest
        {
            BucketName = name,
            ExpectedBucketOwner = accountId,
            ServerSideEncryptionConfiguration = new ServerSideEncryptionConfiguration
            {
                ServerSideEncryptionRules = [new ServerSideEncryptionRule { ServerSideEncryptionByDefault = new ServerSideEncryptionByDefault { ServerSideEncryptionAlgorithm = ServerSideEncryptionMethod.AES256 } }],
            },
        }, cancellationToken).ConfigureAwait(false);
        await s3.PutLifecycleConfigurationAsync(new PutLifecycleConfigurationRequest
        {
            BucketName = name,
            ExpectedBucketOwner = accountId,
            Configuration = new LifecycleConfiguration
            {
                Rules =
                [
                    new LifecycleRule
                    {
                        Id = "coiled-remote-expiry",
                        Status = LifecycleRuleStatus.Enabled,
                        Filter = new LifecycleFilter { LifecycleFilterPredicate = new LifecyclePrefixPredicate { Prefix = string.Empty } },
                        Expiration = new LifecycleRuleExpiration { Days = ExpiryDays },
                        AbortIncompleteMultipartUpload = new LifecycleRuleAbortIncompleteMultipartUpload { DaysAfterInitiation = ExpiryDays },
                    },
                ],
            },
        }, cancellationToken).ConfigureAwait(false);
        await s3.PutBucketTaggingAsync(new PutBucketTaggingRequest { BucketName = name, ExpectedBucketOwner = accountId, TagSet = [new Tag { Key = Tag, Value = "true" }] }, cancellationToken).ConfigureAwait(false);
        logger.StagingBucketCreated(name, region, ExpiryDays);
        return name;
    }

    /// <summary>What the bucket holds; null when it does not exist.</summary>
    public static async Task<Ec2StagingSummary?> SummarizeAsync(IAmazonS3 s3, string name, string accountId, CancellationToken cancellationToken)
    {
        if (!await ExistsAsync(s3, name, accountId, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        var objects = await ListAsync(s3, name, accountId, prefix: null, cancellationToken).ConfigureAwait(false);
        return new Ec2StagingSummary(name, objects.Count, objects.Sum(o => o.Size ?? 0));
    }

    /// <summary>Deletes every object under <paramref name="prefix"/>; returns how many there were.</summary>
    public static async Task<int> DeletePrefixAsync(IAmazonS3 s3, string name, string accountId, string prefix, CancellationToken cancellationToken)
    {
        if (!await ExistsAsync(s3, name, accountId, cancellationToken).ConfigureAwait(false))
        {
            return 0;
        }

        var objects = await ListAsync(s3, name, accountId, prefix, cancellationToken).ConfigureAwait(false);
        await DeleteAsync(s3, name, accountId, objects, cancellationToken).ConfigureAwait(false);
        return objects.Count;
    }

    /// <summary>Empties and deletes the bucket; returns what it held, or null when there was none.</summary>
    public static async Task<Ec2StagingSummary?> RemoveAsync(IAmazonS3 s3, string name, string accountId, ILogger logger, CancellationToken cancellationToken)
    {
        if (!await ExistsAsync(s3, name, accountId, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        var objects = await ListAsync(s3, name, accountId, prefix: null, cancellationToken).ConfigureAwait(false);
        var summary = new Ec2StagingSummary(name, objects.Count, objects.Sum(o => o.Size ?? 0));
        await DeleteAsync(s3, name, accountId, objects, cancellationToken).ConfigureAwait(false);
        await s3.DeleteBucketAsync(new DeleteBucketRequest { BucketName = name, ExpectedBucketOwner = accountId }, cancellationToken).ConfigureAwait(false);
        logger.StagingBucketRemoved(name, summary.Objects, summary.Bytes);
        return summary;
    }

    private static async Task<List<S3Object>> ListAsync(IAmazonS3 s3, string name, string accountId, string? prefix, CancellationToken cancellationToken)
    {
        var objects = new List<S3Object>();
        string? next = null;
        do
        {
            var page = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = name, ExpectedBucketOwner = accountId, Prefix = prefix, ContinuationToken = next }, cancellationToken).ConfigureAwait(false);
            objects.AddRange(page.S3Objects ?? []);
            next = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (next is not null);

        return objects;
    }

    private static async Task DeleteAsync(IAmazonS3 s3, string name, string accountId, List<S3Object> objects, CancellationToken cancellationToken)
    {
        // DeleteObjects takes at most 1,000 keys a call.
        foreach (var batch in objects.Chunk(1000))
        {
            await s3.DeleteObjectsAsync(new DeleteObjectsRequest
            {
                BucketName = name,
                ExpectedBucketOwner = accountId,
                Objects = [.. batch.Select(o => new KeyVersion { Key = o.Key })],
            }, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task<bool> ExistsAsync(IAmazonS3 s3, string name, string accountId, CancellationToken cancellationToken)
    {
        try
        {
            // S3 answers 403 when the bucket is not the account's, even when its owner lets everyone use it.
            await s3.GetBucketLocationAsync(new GetBucketLocationRequest { BucketName = name, ExpectedBucketOwner = accountId }, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.Forbidden)
        {
            throw new ClusterStartException(
                $"The staging bucket {name} exists but these credentials may not use it, or it belongs to another AWS account than {accountId} " +
                $"({ex.ErrorCode}: {ex.Message}). Coiled.Remote stages the worker and the cluster's secrets there, so nothing was started. " +
                "If it is this account's, allow s3:GetBucketLocation, s3:PutObject, s3:GetObject, s3:DeleteObject and s3:ListBucket on it.", ex);
        }
    }

    private static ClusterStartException TakenByAnotherAccount(string name, string accountId, Exception inner) => new(
        $"The staging bucket name {name} is taken by another AWS account than {accountId}. Coiled.Remote stages the worker and the " +
        "cluster's secrets in that bucket, so it does not use one it does not own; nothing was started.", inner);
}
