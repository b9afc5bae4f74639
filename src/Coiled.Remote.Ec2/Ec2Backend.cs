using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Amazon.EC2;
using Amazon.Runtime;
using Coiled.Remote.Security;
using Coiled.Remote.Synchronization;
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
public sealed partial class Ec2Backend : IClusterBackend, IStagingBackend, IBillingBackend
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
    private ClusterStaging? _staging;
    private string? _region;
    private ClusterTeardown? _teardown;
    private InterruptWatcher? _interrupts;
    private CancellationTokenSource? _hunting;
    private Task _remaining = Task.CompletedTask;
    private WorkerTopUp? _topUp;
    private BootSecrets? _firstSecrets;
    private readonly CancellationTokenSource _disposing = new();
    private readonly List<Task> _topUps = [];
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Uri, string> _instanceOf = new();
    private ILogger _logger = NullLogger.Instance;

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

        if (options.RootVolumeGiB is < 8 or > 16384)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.RootVolumeGiB, "Ec2Options.RootVolumeGiB must be from 8 to 16,384 GiB (gp3), or null for the image's own size.");
        }

        if (options.InstanceProfile is { } profile && string.IsNullOrWhiteSpace(profile))
        {
            throw new ArgumentException("Ec2Options.InstanceProfile must name an instance profile (its name or ARN), or be null for none.", nameof(options));
        }

        if (options.CapacityTimeout < TimeSpan.Zero || options.CapacityTimeout > TimeSpan.FromHours(1))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.CapacityTimeout, "Ec2Options.CapacityTimeout must be from 0 (one round of asking) to 1 hour.");
        }

        if (options.InstanceTypes.Any(string.IsNullOrWhiteSpace) || options.SubnetIds.Any(string.IsNullOrWhiteSpace))
        {
            throw new ArgumentException("Ec2Options.InstanceTypes and Ec2Options.SubnetIds must not hold empty entries.", nameof(options));
        }

        if (options.InstanceTypes.Distinct(StringComparer.OrdinalIgnoreCase).Count() != options.InstanceTypes.Count
            || options.SubnetIds.Distinct(StringComparer.OrdinalIgnoreCase).Count() != options.SubnetIds.Count)
        {
            throw new ArgumentException("Ec2Options.InstanceTypes and Ec2Options.SubnetIds must not name an entry twice.", nameof(options));
        }

        if (options.SubnetId is not null && options.SubnetIds.Count > 0)
        {
            throw new ArgumentException("Set Ec2Options.SubnetId or Ec2Options.SubnetIds, not both: SubnetId is the one-subnet shorthand of SubnetIds.", nameof(options));
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
    public string ClusterName { get; private set; }

    /// <inheritdoc/>
    public string Name => $"EC2 ({_options.InstanceType}{(_options.Spot ? ", spot" : string.Empty)}{(_region is null ? string.Empty : " in " + _region)})";

    /// <inheritdoc/>
    public int DefaultWorkerCount => DefaultWorkers;

    /// <summary>
    /// What the cluster has cost so far: instance hours (on-demand from the built-in <c>us-east-1</c> table, or the zone's
    /// spot price, per second with EC2's one-minute minimum), the instances' public IPv4 addresses and their root EBS
    /// volumes, pro rata. Null when an instance type's price is unknown.
    /// </summary>
    public decimal? Cost => _resources.Cost;

    /// <summary>What the cluster has cost so far, by what AWS bills for.</summary>
    internal Ec2CostBreakdown CostBreakdown => _resources.CostBreakdown;

    /// <summary>Seconds the cluster's instances were billed for so far, added up (<see cref="ClusterSummary.PaidWorkerSeconds"/>).</summary>
    double IBillingBackend.PaidSeconds => _resources.PaidSeconds;

    /// <summary>What the instance of the worker at <paramref name="endpoint"/> costs per hour, all told; null when unknown.</summary>
    decimal? IBillingBackend.HourlyCost(WorkerEndpoint endpoint)
        => _instanceOf.TryGetValue(endpoint.Address, out var id) ? _resources.HourlyCost(id) : null;

    /// <summary>The instances launched so far.</summary>
    public IReadOnlyList<string> InstanceIds => _resources.InstanceIds;

    /// <summary>The cluster's security group, once created.</summary>
    public string? SecurityGroupId => _resources.SecurityGroupId;

    /// <summary>The workers fetch the application's files from the staging bucket: the caller uploads each distinct file once.</summary>
    IBlobStaging? IStagingBackend.Staging => _staging?.Files;

    /// <summary>Bytes this cluster uploaded to the staging bucket: the worker (when the bucket lacked it), the boot secrets, the application's files.</summary>
    internal long BytesStaged => _staging?.BytesUploaded ?? 0;

    /// <inheritdoc/>
    public async Task<IReadOnlyList<WorkerEndpoint>> StartWorkersAsync(WorkerLaunch launch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(launch);
        var endpoints = new List<WorkerEndpoint>();
        await foreach (var endpoint in StartWorkersStreamingAsync(launch with { MinimumCount = launch.Count }, cancellationToken).ConfigureAwait(false))
        {
            endpoints.Add(endpoint);
        }

        return endpoints;
    }

    /// <summary>
    /// Launches <see cref="WorkerLaunch.Count"/> instances and yields each one's worker as soon as it accepts
    /// connections. Until <see cref="WorkerLaunch.MinimumCount"/> workers came, a failure or cancellation removes
    /// everything the start created; after that, instances whose worker does not come are terminated and the sequence
    /// ends with a <see cref="ClusterStartException"/> that names them and quotes their console output, while the
    /// workers that came run on. Called again once the cluster runs (for a replacement of a lost or interrupted worker),
    /// it launches that many more instances into the cluster's security group and zone; a failure then terminates only
    /// what that launch started.
    /// </summary>
    public IAsyncEnumerable<WorkerEndpoint> StartWorkersStreamingAsync(WorkerLaunch launch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(launch);
        ObjectDisposedException.ThrowIf(_disposing.IsCancellationRequested, this);
        launch = Keeping(launch);
        if (_client is null)
        {
            return StartClusterAsync(launch, cancellationToken);
        }

        return Volatile.Read(ref _topUp) is { } topUp
            ? AddWorkersAsync(_ => Task.FromResult(topUp), launch, cancellationToken)
            : _adoption is { } adoption
            ? AddAdoptedWorkersAsync(adoption, launch, cancellationToken)
            : throw new InvalidOperationException(
                $"EC2 cluster {ClusterName} is still starting, or its start failed: more workers can be added once it runs. An Ec2Backend starts the workers of one cluster; create a new Ec2Backend for another cluster.");
    }

    /// <summary>More instances for the running cluster; disposal cancels the launch and waits for it to end before the teardown.</summary>
    private async IAsyncEnumerable<WorkerEndpoint> AddWorkersAsync(Func<CancellationToken, Task<WorkerTopUp>> topUps, WorkerLaunch launch, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_topUps)
        {
            if (_disposing.IsCancellationRequested)
            {
                throw new ObjectDisposedException(nameof(Ec2Backend), $"EC2 cluster {ClusterName} is being torn down: no instance is launched for it.");
            }

            _topUps.Add(ended.Task);
        }

        try
        {
            using var adding = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposing.Token);
            var topUp = await topUps(adding.Token).ConfigureAwait(false);
            await foreach (var (instanceId, endpoint) in topUp.LaunchAsync(launch, adding.Token).WithCancellation(adding.Token).ConfigureAwait(false))
            {
                _instanceOf[endpoint.Address] = instanceId;
                yield return endpoint;
            }
        }
        finally
        {
            ended.SetResult();
        }
    }

    private async IAsyncEnumerable<WorkerEndpoint> StartClusterAsync(WorkerLaunch launch, [EnumeratorCancellation] CancellationToken cancellationToken)
    {

        var logger = _logger = launch.LoggerFactory.CreateLogger<Ec2Backend>();
        _keptName = KeptNameOf(launch);
        var (client, credentials, region) = await Ec2ClientFactory.CreateAsync(_options, cancellationToken).ConfigureAwait(false);
        (_client, _region) = (client, region);
        var teardown = new ClusterTeardown(client, _resources, ClusterName, region, _options.InstanceType, _tuning, _time, logger);
        var interrupts = new InterruptWatcher(ClusterName, teardown, _tuning.HandleInterrupts);
        (_teardown, _interrupts) = (teardown, interrupts);

        using var starting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        interrupts.Watch(starting);
        using var certificate = ClusterCertificate.Create(ClusterName, _options.MaxLifetime + TimeSpan.FromDays(1));
        var came = new HashSet<string>(StringComparer.Ordinal);
        IAsyncEnumerator<(string InstanceId, Uri Address)>? booting = null;
        using var hunting = CancellationTokenSource.CreateLinkedTokenSource(starting.Token);
        _hunting = hunting;
        Task<(int Launched, string? Shortfall)> remaining = Task.FromResult<(int, string?)>((launch.Count, null));
        WorkerTopUp? topUp = null;
        var launched = new LaunchedIds();
        try
        {
            IReadOnlyDictionary<string, string>? variables;
            try
            {
                // Checks first, staging next, then what is billed: the worker and the credentials; the image, the subnet
                // and the type; the bucket, the worker and the secrets staged; the security group and the instances.
                var staging = _staging = new ClusterStaging(_options, _tuning, _time, ClusterName, logger);
                teardown.BeforeTeardown = async () =>
                {
                    // Whoever tears down (disposal, a failed start, Ctrl+C), nothing is launched any more.
                    await StopLaunchingAsync().ConfigureAwait(false);
                    await staging.DeleteBootSecretsAsync("the cluster was torn down").ConfigureAwait(false);
                };
                await staging.CheckAsync(credentials, region, starting.Token).ConfigureAwait(false);
                var launcher = new InstanceLauncher(client, _options, region, ClusterName, _owner, _resources, _tuning, _time, logger) { Kept = _keptName };
                var placement = await launcher.PlaceAsync(starting.Token).ConfigureAwait(false);
                (var script, _firstSecrets) = await staging.PrepareBootAsync(launch, certificate, credentials, region, starting.Token).ConfigureAwait(false);
                (_, remaining) = await launcher.LaunchAsync(placement, launch.Count, launch.MinimumCount, script, launched.Add, hunting.Token).ConfigureAwait(false);
                _remaining = remaining;
                variables = _options.ForwardAwsCredentials ? await AwsCredentialVariables.ReadAsync(credentials, region).ConfigureAwait(false) : null;
                topUp = new WorkerTopUp(client, _options, ClusterName, launcher, placement, staging, variables, _tuning, _time, logger,
                    (ids, ready, requested) => TerminateLateAsync(ids, ready, requested, logger));
                booting = new BootWatcher(client, ClusterName, _options.WorkerPort, _tuning, _time, logger, _options.PrivateAddresses)
                    .WatchAsync(launched.Snapshot, remaining, launch.MinimumCount, starting.Token).GetAsyncEnumerator(starting.Token);
            }
            catch (Exception ex)
            {
                if (await StartFailedAsync(ex, teardown, interrupts, cancellationToken, logger).ConfigureAwait(false) is { } instead)
                {
                    throw instead;
                }

                throw;
            }

            while (true)
            {
                (string InstanceId, Uri Address) up;
                try
                {
                    if (!await booting.MoveNextAsync().ConfigureAwait(false))
                    {
                        await DeleteBootSecretsAsync("the boot ended").ConfigureAwait(false);
                        if (await ShortfallAsync(remaining).ConfigureAwait(false) is { } shortfall)
                        {
                            // The cluster runs with the workers that came; it logs why the others never will.
                            throw new ClusterStartException(shortfall);
                        }

                        break;
                    }

                    up = booting.Current;
                }
                catch (Exception ex) when (came.Count < launch.MinimumCount)
                {
                    if (await StartFailedAsync(ex, teardown, interrupts, cancellationToken, logger).ConfigureAwait(false) is { } instead)
                    {
                        throw instead;
                    }

                    throw;
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // The cluster runs with the workers that came; those that did not must not run up a bill, and no
                    // more are launched.
                    await StopHuntingAsync().ConfigureAwait(false);
                    await DeleteBootSecretsAsync("the boot ended").ConfigureAwait(false);
                    await TerminateLateAsync([.. launched.Snapshot().Where(id => !came.Contains(id))], came.Count, launch.Count, logger).ConfigureAwait(false);
                    throw;
                }

                came.Add(up.InstanceId);
                if (remaining.IsCompletedSuccessfully && came.Count == remaining.Result.Launched)
                {
                    // Every worker read its secrets before it listened: nobody needs them in S3 any more.
                    await DeleteBootSecretsAsync("every worker is up").ConfigureAwait(false);
                }
                if (came.Count == launch.MinimumCount)
                {
                    // Enough workers: Ctrl+C now tears the running cluster down instead of cancelling its start (a kept
                    // cluster's, until the registry lists it), and the cluster may ask for more.
                    interrupts.StartEnded();

                    Volatile.Write(ref _topUp, topUp);
                }

                _instanceOf[up.Address] = up.InstanceId;
                yield return new WorkerEndpoint(up.Address) { CertificateThumbprint = certificate.Thumbprint, EnvironmentVariables = variables };
            }
        }
        finally
        {
            interrupts.StartEnded();
            await StopHuntingAsync().ConfigureAwait(false);
            if (booting is not null)
            {
                await booting.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Terminates the instance of a worker the cluster lost, or whose spot instance EC2 reclaims: its billing ends now,
    /// not when EC2 takes it or the cluster is disposed. A failure is logged; disposal terminates it in any case.
    /// </summary>
    public async Task StopWorkerAsync(WorkerEndpoint endpoint, string reason, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (!_instanceOf.TryRemove(endpoint.Address, out var instanceId) || _client is not { } client)
        {
            return;
        }

        _logger.TerminatingEndedWorker(instanceId, ClusterName, endpoint.Address, reason);
        await TerminateNowAsync(client, [instanceId], _logger, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Terminates every instance of the cluster, waits until EC2 reports them terminated, and deletes the security
    /// group, then logs what the cluster cost.
    /// </summary>
    /// <exception cref="Ec2TeardownException">Something could not be removed; the message says what and how to remove it.</exception>
    public async ValueTask DisposeAsync()
    {
        _interrupts?.Stop();
        await StopLaunchingAsync().ConfigureAwait(false);
        await DeleteBootSecretsAsync("the cluster was disposed").ConfigureAwait(false);

        if (Volatile.Read(ref _kept))
        {
            // A named cluster's instances run on for its next start; each powers itself off after its keep-alive. Those
            // whose worker never came (still booting, say) are not the registry's: they go now.
            var came = _instanceOf.Values.ToHashSet(StringComparer.Ordinal);
            if (_resources.LiveInstanceIds.Where(id => !came.Contains(id)).ToList() is { Count: > 0 } late && _client is { } client)
            {
                await TerminateNowAsync(client, late, _logger, CancellationToken.None).ConfigureAwait(false);
            }

            if (_resources.LiveInstanceIds is { Count: > 0 } live && _keptName is { } kept)
            {
                _logger.InstancesKept(live.Count, kept.Name, ClusterName, string.Join(", ", live), kept.KeepAlive);
            }
        }
        else if (_teardown is { } teardown)
        {
            await teardown.TeardownAsync("the cluster was disposed").ConfigureAwait(false);
        }

        _client?.Dispose();
        _staging?.Dispose();
        _disposing.Dispose();
        _adopting.Dispose();
    }

    /// <summary>
    /// Removes what crashed or killed callers left in <see cref="Ec2Options.Region"/>: every tagged cluster whose
    /// <c>coiled-remote:expires</c> time passed or whose owner process on this machine is gone loses its instances
    /// (terminated, waited for), its security group and any boot secrets it left in the staging bucket.
    /// <c>coiled-remote ec2 cleanup</c> runs this.
    /// </summary>
    /// <param name="options">Region, credentials and endpoints; the other settings are ignored.</param>
    /// <param name="includeLiveClusters">
    /// Remove every Coiled.Remote cluster of the region, even those that look in use, and then the staging bucket with
    /// everything in it.
    /// </param>
    /// <param name="logger">Where to log progress; default nowhere.</param>
    /// <param name="cancellationToken">Stops the cleanup; what was already asked of EC2 goes on.</param>
    public static Task<Ec2CleanupReport> CleanupAsync(Ec2Options options, bool includeLiveClusters = false, ILogger? logger = null, CancellationToken cancellationToken = default)
        => new Ec2Sweeper(options, Ec2Tuning.Default, TimeProvider.System, logger ?? NullLogger.Instance).CleanupAsync(includeLiveClusters, cancellationToken);

    /// <summary>
    /// The staging bucket of <see cref="Ec2Options.Region"/> (for these credentials' account) and what it holds; null
    /// when there is none. <c>coiled-remote ec2 ls</c> shows it; <c>coiled-remote ec2 cleanup --all</c> removes it.
    /// </summary>
    /// <param name="options">Region, credentials and endpoints; the other settings are ignored.</param>
    /// <param name="cancellationToken">Stops the listing.</param>
    public static Task<Ec2StagingSummary?> GetStagingBucketAsync(Ec2Options options, CancellationToken cancellationToken = default)
        => new Ec2Sweeper(options, Ec2Tuning.Default, TimeProvider.System, NullLogger.Instance).StagingAsync(cancellationToken);

    /// <summary>Lists the Coiled.Remote clusters of <see cref="Ec2Options.Region"/> with their uptime and cost so far.</summary>
    /// <param name="options">Region, credentials and endpoint; the other settings are ignored.</param>
    /// <param name="cancellationToken">Stops the listing.</param>
    public static Task<IReadOnlyList<Ec2ClusterSummary>> ListClustersAsync(Ec2Options options, CancellationToken cancellationToken = default)
        => new Ec2Sweeper(options, Ec2Tuning.Default, TimeProvider.System, NullLogger.Instance).ListAsync(cancellationToken);

    /// <summary>What Ctrl+C does: cancel a start in progress, or tear a running cluster down (and end the process).</summary>
    internal Task InterruptAsync(bool exitProcess) => _interrupts?.InterruptAsync(exitProcess) ?? Task.CompletedTask;

    /// <summary>
    /// The start failed or was cancelled before enough workers came: remove everything it created. Returns the exception
    /// to throw instead of <paramref name="ex"/>, or null to throw it as it is.
    /// </summary>
    private async Task<Exception?> StartFailedAsync(
        Exception ex, ClusterTeardown teardown, InterruptWatcher interrupts, CancellationToken cancellationToken, ILogger logger)
    {
        logger.StartFailed(ClusterName, ex.Message);
        await StopHuntingAsync().ConfigureAwait(false);
        await DeleteBootSecretsAsync("the start failed").ConfigureAwait(false);
        try
        {
            await teardown.TeardownAsync(ex is OperationCanceledException ? "the start was cancelled" : "the start failed").ConfigureAwait(false);
        }
        catch (Ec2TeardownException failure)
        {
            return new ClusterStartException($"{ex.Message}{Environment.NewLine}Removing what the start created failed too: {failure.Message}", ex);
        }

        if (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested && interrupts.Interrupted)
        {
            return new OperationCanceledException($"The start of EC2 cluster {ClusterName} was interrupted; its instances were terminated and its security group deleted.", ex);
        }

        return null;
    }

    /// <summary>Why fewer instances than asked were launched, once the hunt for the rest ended; null when all were.</summary>
    private static async Task<string?> ShortfallAsync(Task<(int Launched, string? Shortfall)> remaining)
    {
        try
        {
            return (await remaining.ConfigureAwait(false)).Shortfall;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return $"Launching the rest of the cluster's instances failed: {ex.Message}";
        }
    }

    /// <summary>
    /// No more instances, once the cluster is being torn down: refuses new launches of more workers, cancels those under
    /// way and waits for them to end (each terminates what it started and no worker took), then stops the start's hunt.
    /// </summary>
    private async Task StopLaunchingAsync()
    {
        Task[] topUps;
        lock (_topUps)
        {
            if (!_disposing.IsCancellationRequested)
            {
                _disposing.Cancel();
            }

            topUps = [.. _topUps];
        }

        await Task.WhenAll(topUps).ConfigureAwait(false);
        await StopHuntingAsync().ConfigureAwait(false);
    }

    /// <summary>Stops asking EC2 for the rest of the instances and waits until no launch is in flight.</summary>
    private async Task StopHuntingAsync()
    {
        try
        {
            _hunting?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The start ended: its hunt ended before.
        }

        try
        {
            await _remaining.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Cancelled, or failed: what it launched is in the cluster's resources either way.
        }
    }

    /// <summary>Deletes the first launch's boot secrets (those of later launches go when their boot ends, or at teardown).</summary>
    private Task DeleteBootSecretsAsync(string why) => _firstSecrets?.DeleteAsync(why) ?? Task.CompletedTask;

    /// <summary>Terminates the instances whose worker did not come after the cluster started without them; disposal waits for them.</summary>
    private async Task TerminateLateAsync(IReadOnlyList<string> ids, int ready, int requested, ILogger logger)
    {
        if (ids.Count == 0 || _client is not { } client)
        {
            return;
        }

        logger.TerminatingLate(ids.Count, ClusterName, string.Join(", ", ids), ready, requested);
        await TerminateNowAsync(client, ids, logger, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>
    /// Terminates instances the running cluster is done with, without waiting for them to end; billing ends as they
    /// shut down. A failure is logged: disposal terminates them again and waits, and each powers itself off when no
    /// client comes.
    /// </summary>
    private async Task TerminateNowAsync(IAmazonEC2 client, IReadOnlyList<string> ids, ILogger logger, CancellationToken cancellationToken)
    {
        try
        {
            using var timeout = new CancellationTokenSource(_tuning.TeardownTimeout, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            await Ec2Teardown.TerminateAsync(client, ids, _tuning, _time, linked.Token).ConfigureAwait(false);
            foreach (var id in ids)
            {
                _resources.Terminated(id);
            }
        }
        catch (Exception ex) when (ex is AmazonServiceException or AmazonClientException or OperationCanceledException or HttpRequestException)
        {
            logger.TerminateLateFailed(ex, string.Join(", ", ids));
        }
    }
}
