using System.Security.Cryptography;
using Amazon.EC2;
using Amazon.Runtime;
using Amazon.S3;
using Coiled.Remote.Synchronization;
using Coiled.Remote.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coiled.Remote.Ec2;

/// <summary>
/// Workers on raw EC2 instances that leave nothing behind: a security group of the cluster's own admitting only the
/// caller, tagged instances that install and start the worker at boot and power themselves off (and so terminate)
/// when their client is gone, spot with on-demand fallback, and a teardown that waits until every instance is
/// terminated and the security group is deleted. A failed or cancelled start, and Ctrl+C, tear down the same way;
/// <see cref="CleanupAsync"/> removes whatever a killed caller left.
/// </summary>
/// <example>
/// <code>
/// await using var cluster = await Cluster.StartAsync(new ClusterOptions
/// {
///     Workers = 4,
///     Backend = new Ec2Backend(new Ec2Options { Region = "us-east-1", Spot = true }),
/// });
/// </code>
/// </example>
public sealed class Ec2Backend : IClusterBackend, IStagingBackend
{
    internal const int DefaultWorkers = 4;

    // One part per job: InstanceLauncher creates the security group and the instances, BootWatcher waits for their
    // workers, ClusterTeardown removes what ClusterResources records, and InterruptWatcher runs it on Ctrl+C.
    private readonly Ec2Options _options;
    private readonly Ec2Tuning _tuning;
    private readonly TimeProvider _time;
    private readonly OwnerIdentity _owner;
    private readonly ClusterResources _resources;
    private IAmazonEC2? _client;
    private IAmazonS3? _s3;
    private BootSecrets? _secrets;
    private S3Staging? _staging;
    private S3BlobStaging? _blobStaging;
    private string? _region;
    private ClusterTeardown? _teardown;
    private InterruptWatcher? _interrupts;

    /// <summary>Creates a backend for one cluster; the cluster started with it disposes it.</summary>
    /// <param name="options">Region, instance type, spot and network settings.</param>
    public Ec2Backend(Ec2Options options)
        : this(options, Ec2Tuning.Default, TimeProvider.System)
    {
    }

    internal Ec2Backend(Ec2Options options, Ec2Tuning tuning, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.InstanceType, nameof(options));
        if (options.WorkerPort is < 1 or > 65535)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.WorkerPort, "Ec2Options.WorkerPort must be a TCP port, 1 to 65535.");
        }

        if (options.MaxLifetime <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxLifetime, "Ec2Options.MaxLifetime must be positive.");
        }

        if (options.AllowIngressFrom is { } cidr)
        {
            CallerAddress.Validate(cidr);
        }

        _options = options;
        _tuning = tuning;
        _time = time;
        _owner = tuning.Owner ?? OwnerIdentity.Current;
        _resources = new ClusterResources(time);
        ClusterName = "coiled-remote-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
    }

    /// <summary>The cluster's name: the value of the <c>coiled-remote:cluster</c> tag and of its security group's name.</summary>
    public string ClusterName { get; }

    /// <inheritdoc/>
    public string Name => $"EC2 ({_options.InstanceType}{(_options.Spot ? ", spot" : string.Empty)}{(_region is null ? string.Empty : " in " + _region)})";

    /// <inheritdoc/>
    public int DefaultWorkerCount => DefaultWorkers;

    /// <summary>
    /// What the instances have cost so far: on-demand prices from a built-in table (<c>us-east-1</c>) or the spot
    /// price of the zone, per second with EC2's one-minute minimum. Null when the instance type's price is unknown.
    /// </summary>
    public decimal? Cost => _resources.Cost;

    /// <summary>The instances launched so far.</summary>
    public IReadOnlyList<string> InstanceIds => _resources.InstanceIds;

    /// <summary>The cluster's security group, once created.</summary>
    public string? SecurityGroupId => _resources.SecurityGroupId;

    /// <summary>The workers fetch the application's files from the staging bucket: the caller uploads each distinct file once.</summary>
    IBlobStaging? IStagingBackend.Staging => _blobStaging;

    /// <summary>Bytes this cluster's start uploaded to the staging bucket (the worker, once per account and region, the secrets, the application's files).</summary>
    internal long BytesStaged => _staging?.BytesUploaded ?? 0;

    /// <inheritdoc/>
    public async Task<IReadOnlyList<WorkerEndpoint>> StartWorkersAsync(WorkerLaunch launch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(launch);
        if (_client is not null)
        {
            throw new InvalidOperationException("An Ec2Backend starts the workers of one cluster; create a new Ec2Backend for another cluster.");
        }

        var logger = launch.LoggerFactory.CreateLogger<Ec2Backend>();
        var (client, credentials, region) = await Ec2ClientFactory.CreateAsync(_options, cancellationToken).ConfigureAwait(false);
        (_client, _region) = (client, region);
        var teardown = new ClusterTeardown(client, _resources, ClusterName, region, _options.InstanceType, _tuning, _time, logger);
        var interrupts = new InterruptWatcher(ClusterName, teardown, _tuning.HandleInterrupts);
        (_teardown, _interrupts) = (teardown, interrupts);

        using var starting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        interrupts.Watch(starting);
        try
        {
            return await StartCoreAsync(client, credentials, region, launch, logger, starting.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            logger.StartFailed(ClusterName, ex.Message);
            await DeleteBootSecretsAsync("the start failed").ConfigureAwait(false);
            try
            {
                await teardown.TeardownAsync(ex is OperationCanceledException ? "the start was cancelled" : "the start failed").ConfigureAwait(false);
            }
            catch (Exception failure) when (failure is Ec2TeardownException)
            {
                throw new ClusterStartException($"{ex.Message}{Environment.NewLine}Removing what the start created failed too: {failure.Message}", ex);
            }

            if (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested && interrupts.Interrupted)
            {
                throw new OperationCanceledException($"The start of EC2 cluster {ClusterName} was interrupted; its instances were terminated and its security group deleted.", ex);
            }

            throw;
        }
        finally
        {
            interrupts.StartEnded();
        }
    }

    /// <summary>
    /// Terminates every instance of the cluster, waits until EC2 reports them terminated, and deletes the security
    /// group, then logs what the cluster cost.
    /// </summary>
    /// <exception cref="Ec2TeardownException">Something could not be removed; the message says what and how to remove it.</exception>
    public async ValueTask DisposeAsync()
    {
        _interrupts?.Stop();
        await DeleteBootSecretsAsync("the cluster was disposed").ConfigureAwait(false);
        if (_teardown is { } teardown)
        {
            await teardown.TeardownAsync("the cluster was disposed").ConfigureAwait(false);
        }

        _client?.Dispose();
        _s3?.Dispose();
    }

    /// <summary>
    /// Removes what crashed or killed callers left in <see cref="Ec2Options.Region"/>: every tagged cluster whose
    /// <c>coiled-remote:expires</c> time passed or whose owner process on this machine is gone loses its instances
    /// (terminated, waited for) and its security group. <c>coiled-remote ec2 cleanup</c> runs this.
    /// </summary>
    /// <param name="options">Region, credentials and endpoint; the other settings are ignored.</param>
    /// <param name="includeLiveClusters">Remove every Coiled.Remote cluster of the region, even those that look in use.</param>
    /// <param name="logger">Where to log progress; default nowhere.</param>
    /// <param name="cancellationToken">Stops the cleanup; what was already asked of EC2 goes on.</param>
    public static Task<Ec2CleanupReport> CleanupAsync(Ec2Options options, bool includeLiveClusters = false, ILogger? logger = null, CancellationToken cancellationToken = default)
        => new Ec2Sweeper(options, Ec2Tuning.Default, TimeProvider.System, logger ?? NullLogger.Instance).CleanupAsync(includeLiveClusters, cancellationToken);

    /// <summary>Lists the Coiled.Remote clusters of <see cref="Ec2Options.Region"/> with their uptime and cost so far.</summary>
    /// <param name="options">Region, credentials and endpoint; the other settings are ignored.</param>
    /// <param name="cancellationToken">Stops the listing.</param>
    public static Task<IReadOnlyList<Ec2ClusterSummary>> ListClustersAsync(Ec2Options options, CancellationToken cancellationToken = default)
        => new Ec2Sweeper(options, Ec2Tuning.Default, TimeProvider.System, NullLogger.Instance).ListAsync(cancellationToken);

    /// <summary>What Ctrl+C does: cancel a start in progress, or tear a running cluster down (and end the process).</summary>
    internal Task InterruptAsync(bool exitProcess) => _interrupts?.InterruptAsync(exitProcess) ?? Task.CompletedTask;

    private async Task<IReadOnlyList<WorkerEndpoint>> StartCoreAsync(
        IAmazonEC2 client, AWSCredentials credentials, string region, WorkerLaunch launch, ILogger logger, CancellationToken cancellationToken)
    {
        // What can be checked before anything is created or billed: the worker for the instances' architecture, the
        // credentials (the account), and the staging bucket.
        var bundle = WorkerBundle.Find(InstanceArchitecture.Of(_options.InstanceType), _tuning.WorkerBundleDirectory);
        var account = await AccountIdentity.AccountIdAsync(_options, credentials, region, cancellationToken).ConfigureAwait(false);
        var s3 = _s3 = S3ClientFactory.Create(_options, credentials, region);
        var staging = _staging = await StageAsync(s3, account, region, logger, cancellationToken).ConfigureAwait(false);
        _blobStaging = new S3BlobStaging(staging, _tuning.BootTimeout);
        var workerKey = await StageWorkerAsync(staging, bundle, cancellationToken).ConfigureAwait(false);

        // The instances fetch the worker and the secrets while they boot; the addresses expire with the boot.
        using var certificate = ClusterCertificate.Create(ClusterName, _options.MaxLifetime + TimeSpan.FromDays(1));
        var secrets = _secrets = new BootSecrets(staging, ClusterName, logger);
        var secretsUrl = await secrets.StageAsync(launch.Token, certificate.ExportPfx(), _tuning.BootTimeout, cancellationToken).ConfigureAwait(false);
        var workerUrl = await staging.PresignAsync(workerKey, _tuning.BootTimeout).ConfigureAwait(false);
        var script = UserDataScript.Render(new UserDataScript.Settings(
            _options.WorkerPort, workerUrl, bundle.Sha256, secretsUrl, launch.IdleTimeout, launch.NoClientTimeout, _options.MaxLifetime));

        var launcher = new InstanceLauncher(client, _options, region, ClusterName, _owner, _resources, _tuning, _time, logger);
        await launcher.LaunchAsync(launch.Count, script, cancellationToken).ConfigureAwait(false);

        var booting = new BootWatcher(client, ClusterName, _options.WorkerPort, _tuning, _time, logger);
        var addresses = await booting.WaitForWorkersAsync(_resources.InstanceIds, cancellationToken).ConfigureAwait(false);

        // Every worker has read its secrets before it listens: nobody needs them in S3 any more.
        await secrets.DeleteAsync("every worker is up").ConfigureAwait(false);
        var variables = _options.ForwardAwsCredentials ? await AwsCredentialVariables.ReadAsync(credentials, region).ConfigureAwait(false) : null;
        return [.. addresses.Select(a => new WorkerEndpoint(a) { CertificateThumbprint = certificate.Thumbprint, EnvironmentVariables = variables })];
    }

    private async Task<S3Staging> StageAsync(IAmazonS3 s3, string account, string region, ILogger logger, CancellationToken cancellationToken)
    {
        try
        {
            var bucket = await StagingBucket.EnsureAsync(s3, account, region, logger, cancellationToken).ConfigureAwait(false);
            return new S3Staging(s3, bucket, _options.S3ServiceUrl, _time, logger);
        }
        catch (Exception ex) when (ex is AmazonServiceException or AmazonClientException or HttpRequestException)
        {
            throw StagingFailed(StagingBucket.NameFor(account, region), ex);
        }
    }

    private async Task<string> StageWorkerAsync(S3Staging staging, WorkerBundle bundle, CancellationToken cancellationToken)
    {
        try
        {
            return await staging.StageFileAsync(bundle.Path, bundle.Sha256, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AmazonServiceException or AmazonClientException or HttpRequestException)
        {
            throw StagingFailed(staging.Bucket, ex);
        }
    }

    private ClusterStartException StagingFailed(string bucket, Exception ex)
        => new(
            $"The staging bucket {bucket} could not be used{(_options.S3ServiceUrl is { } url ? $" at {url}" : string.Empty)}: {ex.Message} " +
            "The instances fetch the worker from it, so nothing was started. Check that S3 is reachable from here and that the credentials " +
            "may use the bucket (README, Permissions).", ex);

    private Task DeleteBootSecretsAsync(string why) => _secrets?.DeleteAsync(why) ?? Task.CompletedTask;
}
