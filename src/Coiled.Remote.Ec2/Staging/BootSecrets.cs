using System.Security.Cryptography;
using Amazon.Runtime;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Ec2;

/// <summary>
/// The cluster's token and certificate on their way to the instances: a private object in the staging bucket under a
/// random key, fetched once by each instance through a presigned address that expires with the boot, and deleted as
/// soon as every worker is up (or the start ends, or the cluster is torn down). The user data holds only the address.
/// </summary>
internal sealed class BootSecrets(S3Staging staging, string clusterName, ILogger logger)
{
    private readonly string _key = PrefixOf(clusterName) + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
    private int _state; // 0 none, 1 staged, 2 deleted

    /// <summary>Where a cluster's boot secrets are kept in the bucket.</summary>
    public static string PrefixOf(string clusterName) => $"boot/{clusterName}/";

    /// <summary>Stages the secrets and returns the address the instances fetch them from, valid for <paramref name="validFor"/>.</summary>
    public async Task<Uri> StageAsync(string token, byte[] certificatePfx, TimeSpan validFor, CancellationToken cancellationToken)
    {
        Volatile.Write(ref _state, 1);
        await staging.PutAsync(_key, UserDataScript.Secrets(token, certificatePfx), cancellationToken).ConfigureAwait(false);
        return await staging.PresignAsync(_key, validFor).ConfigureAwait(false);
    }

    /// <summary>Deletes the secrets, once; a failure is logged (the bucket's expiry removes them within a day), never thrown.</summary>
    public async Task DeleteAsync(string why)
    {
        if (Interlocked.CompareExchange(ref _state, 2, 1) != 1)
        {
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await staging.DeleteAsync(_key, timeout.Token).ConfigureAwait(false);
            logger.BootSecretsDeleted(clusterName, why);
        }
        catch (Exception ex) when (ex is AmazonServiceException or AmazonClientException or OperationCanceledException or HttpRequestException)
        {
            logger.BootSecretsNotDeleted(ex, clusterName, staging.Bucket, _key);
        }
    }
}
