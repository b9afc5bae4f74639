using Amazon.Runtime;
using Amazon.S3;
using Coiled.Remote.Security;
using Coiled.Remote.Synchronization;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Ec2;

/// <summary>
/// One cluster's use of the staging bucket: checks and prepares, before anything is billed, what the instances boot
/// with (the self-contained worker for their architecture, the account, the bucket, the worker staged, the boot secrets
/// staged) and renders their user data; then stages the application's files for the workers to fetch, and deletes the
/// boot secrets once they were used.
/// </summary>
internal sealed class ClusterStaging(Ec2Options options, Ec2Tuning tuning, TimeProvider time, string clusterName, ILogger logger) : IDisposable
{
    /// <summary>
    /// The boot's addresses are signed before the launch, and the boot timeout counts from after it: they stay valid
    /// this much longer, for the launch itself (the image, the group, a spot refusal and the on-demand retry).
    /// </summary>
    internal static readonly TimeSpan LaunchAllowance = TimeSpan.FromMinutes(5);

    private IAmazonS3? _s3;
    private S3Staging? _staging;
    private readonly List<BootSecrets> _secrets = [];
    private S3BlobStaging? _files;
    private string? _workerKey;

    /// <summary>The application's files for the workers to fetch; null until <see cref="PrepareBootAsync"/> succeeded.</summary>
    public IBlobStaging? Files { get; private set; }

    /// <summary>Bytes uploaded to the bucket so far.</summary>
    public long BytesUploaded => _staging?.BytesUploaded ?? 0;

    private WorkerBundle? _bundle;
    private string? _account;

    /// <summary>
    /// The first checks of a start: the worker for the instances' architecture (no AWS call), then the credentials,
    /// whose account names the bucket.
    /// </summary>
    public async Task CheckAsync(AWSCredentials credentials, string region, CancellationToken cancellationToken)
    {
        _bundle = WorkerBundle.Find(InstanceLauncher.ArchitectureOf(options), tuning.WorkerBundleDirectory);
        _account = await AccountIdentity.AccountIdAsync(options, credentials, region, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// After <see cref="CheckAsync"/>: the bucket and the worker staged, then the first launch's secrets; returns the
    /// instances' user data and those secrets, to delete once the launch's workers are up.
    /// </summary>
    public async Task<(string Script, BootSecrets Secrets)> PrepareBootAsync(
        WorkerLaunch launch, ClusterCertificate certificate, AWSCredentials credentials, string region, CancellationToken cancellationToken)
    {
        await PrepareAsync(credentials, region, cancellationToken).ConfigureAwait(false);
        return await BootScriptAsync(launch, certificate, options.MaxLifetime, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>After <see cref="CheckAsync"/>: the bucket made sure of and the worker staged, for <see cref="BootScriptAsync"/>.</summary>
    public async Task PrepareAsync(AWSCredentials credentials, string region, CancellationToken cancellationToken)
    {
        var (bundle, account) = (_bundle, _account) is ({ } b, { } a) ? (b, a) : throw new InvalidOperationException("CheckAsync comes first.");
        var s3 = _s3 = S3ClientFactory.Create(options, credentials, region);
        var bucket = StagingBucket.NameFor(account, region);
        try
        {
            await StagingBucket.EnsureAsync(s3, account, region, logger, cancellationToken).ConfigureAwait(false);
            _staging = new S3Staging(s3, bucket, account, options.S3ServiceUrl, time, logger);
            _workerKey = await _staging.StageFileAsync(bundle.Path, bundle.Sha256, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AmazonServiceException or AmazonClientException or HttpRequestException)
        {
            throw new ClusterStartException(
                $"The staging bucket {bucket} could not be used{(options.S3ServiceUrl is { } url ? $" at {url}" : string.Empty)}: {ex.Message} " +
                "The instances fetch the worker from it, so nothing was started. Check that S3 is reachable from here and that the credentials " +
                "may use the bucket (README, Permissions).", ex);
        }

        Files = _files = new S3BlobStaging(_staging, tuning.BootTimeout);
    }

    /// <summary>
    /// After <see cref="PrepareBootAsync"/>, for instances launched later (replacements): fresh secrets, with the
    /// certificate <paramref name="certificate"/> their workers serve, and user data that powers them off after
    /// <paramref name="lifetime"/>, when the cluster's own lifetime ends.
    /// </summary>
    public async Task<(string Script, BootSecrets Secrets)> BootScriptAsync(
        WorkerLaunch launch, ClusterCertificate certificate, TimeSpan lifetime, CancellationToken cancellationToken)
    {
        var (staging, bundle, workerKey) = (_staging, _bundle, _workerKey) is ({ } s, { } b, { } k) ? (s, b, k) : throw new InvalidOperationException("PrepareBootAsync comes first.");

        // The instances fetch the worker and the secrets while they boot; the addresses expire with the boot.
        var secrets = new BootSecrets(staging, clusterName, logger);
        lock (_secrets)
        {
            _secrets.Add(secrets);
        }

        // Instances launched at the end of the capacity wait still boot within their addresses' validity.
        var valid = options.CapacityTimeout + tuning.BootTimeout + LaunchAllowance;
        try
        {
            var secretsUrl = await secrets.StageAsync(launch.Token, certificate.ExportPfx(), valid, cancellationToken).ConfigureAwait(false);
            var workerUrl = await staging.PresignAsync(workerKey, valid).ConfigureAwait(false);
            var script = UserDataScript.Render(new UserDataScript.Settings(
                options.WorkerPort, workerUrl, bundle.Sha256, secretsUrl, launch.IdleTimeout, launch.NoClientTimeout, lifetime)
            {
                // The first instance up waits for its client while the rest of the fleet boots.
                FirstClientTimeout = launch.NoClientTimeout == Timeout.InfiniteTimeSpan ? Timeout.InfiniteTimeSpan : options.CapacityTimeout + tuning.BootTimeout + launch.NoClientTimeout,
            });
            return (script, secrets);
        }
        catch (Exception ex) when (ex is AmazonServiceException or AmazonClientException or HttpRequestException)
        {
            await secrets.DeleteAsync("staging them failed").ConfigureAwait(false);
            throw new ClusterStartException(
                $"The boot secrets of cluster {clusterName} could not be staged in the bucket {staging.Bucket}: {ex.Message} Nothing was launched for them.", ex);
        }
    }

    /// <summary>Deletes every launch's boot secrets that are still in the bucket (teardown). Never throws.</summary>
    public Task DeleteBootSecretsAsync(string why)
    {
        List<BootSecrets> all;
        lock (_secrets)
        {
            all = [.. _secrets];
        }

        return Task.WhenAll(all.Select(s => s.DeleteAsync(why)));
    }

    public void Dispose()
    {
        _files?.Dispose();
        _s3?.Dispose();
    }
}
