using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using Amazon.EC2.Model;
using Amazon.Runtime;
using Coiled.Remote.KeptClusters;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Ec2;

// Named clusters on EC2: with a ClusterOptions.KeepAlive the instances are tagged as kept, wait that long for a client,
// and outlive disposal, Ctrl+C and the process; a later start of the name finds them by their tag, reaches them over
// the pinned TLS with the token the registry keeps, and can add instances to them.
public sealed partial class Ec2Backend : IKeepingBackend
{
    /// <summary>What the registry calls these workers: a named cluster of another kind is not attached to.</summary>
    internal const string KeptKind = "EC2";

    /// <summary>Registry properties: the region, the cluster's tag and its security group.</summary>
    internal const string RegionProperty = "region";

    internal const string ClusterProperty = "cluster";

    internal const string SecurityGroupProperty = "securityGroup";

    /// <summary>The longest <see cref="ClusterOptions.KeepAlive"/> of EC2 workers unless <see cref="ClusterOptions.MaxKeepAlive"/> says otherwise.</summary>
    internal static readonly TimeSpan DefaultMaxKeepAlive = TimeSpan.FromHours(1);

    private readonly SemaphoreSlim _adopting = new(1, 1);

    /// <summary>The named cluster this backend's instances are kept for; null when they end with the cluster.</summary>
    private KeptName? _keptName;

    /// <summary>Set by <see cref="IKeepingBackend.Keep"/>: disposal leaves the instances running.</summary>
    private bool _kept;

    /// <summary>Set when this backend adopted a kept cluster's instances instead of launching its own.</summary>
    private Adoption? _adoption;

    string IKeepingBackend.Kind => KeptKind;

    TimeSpan IKeepingBackend.DefaultMaxKeepAlive => DefaultMaxKeepAlive;

    string IKeepingBackend.RegistryDirectory => _tuning.RegistryDirectory ?? Path.Combine(LocalProcessBackend.DefaultCacheDirectory(), "clusters");

    IReadOnlyDictionary<string, string> IKeepingBackend.Properties
    {
        get
        {
            var properties = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
            properties[ClusterProperty] = ClusterName;
            if (_region is { } region)
            {
                properties[RegionProperty] = region;
            }

            if (SecurityGroupId is { } group)
            {
                properties[SecurityGroupProperty] = group;
            }

            return properties.ToImmutable();
        }
    }

    RegisteredWorker? IKeepingBackend.Describe(WorkerEndpoint endpoint)
        => _instanceOf.TryGetValue(endpoint.Address, out var id)
            ? new RegisteredWorker(endpoint.Address) { InstanceId = id, CertificateThumbprint = endpoint.CertificateThumbprint }
            : null;

    void IKeepingBackend.Keep() => Volatile.Write(ref _kept, true);

    void IKeepingBackend.Registered()
    {
        if (_keptName is not null)
        {
            // Listed in the registry: Ctrl+C and the end of the process leave the instances for the next start.
            _interrupts?.Stop();
        }
    }

    /// <summary>
    /// Finds the running instances of the named cluster <paramref name="cluster"/> by its tag and takes those the registry
    /// knows (address, certificate thumbprint) as this backend's own: disposal terminates them unless kept, and more
    /// workers go into the same security group. None running: whatever the cluster left (its security group) is removed
    /// and the backend stays unused, for a new cluster.
    /// </summary>
    async Task<IReadOnlyList<WorkerEndpoint>> IKeepingBackend.AdoptAsync(
        RegisteredCluster cluster, TimeSpan keepAlive, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposing.IsCancellationRequested, this);
        if (_client is not null)
        {
            throw new InvalidOperationException("This Ec2Backend already runs a cluster: an Ec2Backend starts or adopts the workers of one cluster.");
        }

        var logger = loggerFactory.CreateLogger<Ec2Backend>();
        if (!cluster.Properties.TryGetValue(RegionProperty, out var registeredRegion) || !cluster.Properties.TryGetValue(ClusterProperty, out var clusterName))
        {
            throw new ClusterStartException(
                $"The registry entry of named cluster '{cluster.Name}' does not say in which region and under which tag its instances run, so they cannot be found. " +
                $"Delete the entry, {Path.Combine(((IKeepingBackend)this).RegistryDirectory, cluster.Name + ".json")}, to forget the name; `coiled-remote ec2 ls` lists " +
                $"the region's clusters, which power themselves off after {cluster.KeepAlive} without a client.");
        }

        var (client, credentials, region) = await Ec2ClientFactory.CreateAsync(_options, cancellationToken).ConfigureAwait(false);
        try
        {
            if (region != registeredRegion)
            {
                throw new ClusterStartException(
                    $"Named cluster '{cluster.Name}' runs in {registeredRegion}; this start asks for {region}. Set Ec2Options.Region to \"{registeredRegion}\" to use it, " +
                    $"stop it with `coiled-remote stop {cluster.Name}`, or give this cluster another name.");
            }

            var live = await Ec2Calls.FindLiveAsync(client, [new Filter("tag:" + ClusterTags.Cluster, [clusterName])], cancellationToken).ConfigureAwait(false);
            var up = live.Where(i => i.State?.Name?.Value == "running").ToDictionary(i => i.InstanceId, StringComparer.Ordinal);
            var running = cluster.Workers.Where(w => w.InstanceId is { } id && up.ContainsKey(id) && w.CertificateThumbprint is not null).ToList();
            logger.InstancesAdopted(cluster.Name, clusterName, region, running.Count, cluster.Workers.Count, string.Join(", ", running.Select(w => w.InstanceId)));
            var expires = running.Count == 0 ? null : ClusterTags.ParseExpiry(ClusterTags.Get(up[running[0].InstanceId!].Tags, ClusterTags.Expires));
            if (expires is { } end && end - _time.GetUtcNow() < WorkerTopUp.MinimumLifetimeLeft)
            {
                // They power themselves off soon (Ec2Options.MaxLifetime) and could not be added to: a new cluster of the name instead.
                logger.KeptClusterEnding(cluster.Name, clusterName, end);
                running.Clear();
            }

            if (running.Count == 0)
            {
                // Nothing of the name can be used: whatever carries its tag (instances the registry does not list, its
                // security group) goes, so that the name starts afresh.
                await RemoveLeftoversAsync(client, cluster.Name, clusterName, region, [.. live.Select(i => i.InstanceId)], cluster.Properties, logger).ConfigureAwait(false);
                client.Dispose();
                return [];
            }

            var types = running.Select(w => up[w.InstanceId!].InstanceType?.Value ?? "?").Distinct(StringComparer.Ordinal).ToList();
            if (types.Except(InstanceLauncher.TypesOf(_options), StringComparer.Ordinal).Any())
            {
                logger.KeptTypeDiffers(cluster.Name, string.Join(", ", types), string.Join(", ", InstanceLauncher.TypesOf(_options)));
            }

            var variables = _options.ForwardAwsCredentials ? await AwsCredentialVariables.ReadAsync(credentials, region).ConfigureAwait(false) : null;
            var spotPrices = new SpotPrices(client, _time);
            var endpoints = new List<WorkerEndpoint>();
            foreach (var worker in running)
            {
                var instance = up[worker.InstanceId!];
                await PriceAsync(instance, spotPrices, cancellationToken).ConfigureAwait(false);
                _instanceOf[worker.Address] = instance.InstanceId;
                endpoints.Add(new WorkerEndpoint(worker.Address) { CertificateThumbprint = worker.CertificateThumbprint, EnvironmentVariables = variables });
            }

            // From here on the backend owns the instances: disposal keeps them or terminates them.
            (_client, _region, ClusterName, _logger) = (client, region, clusterName, logger);
            if (cluster.Properties.TryGetValue(SecurityGroupProperty, out var group))
            {
                _resources.SecurityGroupCreated(group);
            }

            _keptName = keepAlive > TimeSpan.Zero ? new KeptName(cluster.Name, keepAlive) : null;
            _adoption = new Adoption(credentials, region, expires ?? _time.GetUtcNow() + _options.MaxLifetime, variables);
            var teardown = _teardown = new ClusterTeardown(client, _resources, clusterName, region, _options.InstanceType, _tuning, _time, logger)
            {
                BeforeTeardown = async () =>
                {
                    await StopLaunchingAsync().ConfigureAwait(false);
                    if (_staging is { } staging)
                    {
                        await staging.DeleteBootSecretsAsync("the cluster was torn down").ConfigureAwait(false);
                    }
                },
            };
            if (_keptName is null)
            {
                // This start's disposal ends the cluster: Ctrl+C does too, as for a cluster it started.
                var interrupts = _interrupts = new InterruptWatcher(clusterName, teardown, _tuning.HandleInterrupts);
                using var started = new CancellationTokenSource();
                interrupts.Watch(started);
                interrupts.StartEnded();
            }

            return endpoints;
        }
        catch
        {
            if (_client is null)
            {
                client.Dispose();
            }

            throw;
        }
    }

    /// <summary>How many of the registered instances of named cluster <paramref name="cluster"/> run now (<c>coiled-remote ls --region</c>).</summary>
    internal static async Task<int> CountRunningAsync(Ec2Options options, RegisteredCluster cluster, CancellationToken cancellationToken)
    {
        var ids = cluster.Workers.Select(w => w.InstanceId).OfType<string>().ToHashSet(StringComparer.Ordinal);
        if (ids.Count == 0 || !cluster.Properties.TryGetValue(ClusterProperty, out var clusterName))
        {
            return 0;
        }

        var (client, _, _) = await Ec2ClientFactory.CreateAsync(options, cancellationToken).ConfigureAwait(false);
        using (client)
        {
            var live = await Ec2Calls.FindLiveAsync(client, [new Filter("tag:" + ClusterTags.Cluster, [clusterName])], cancellationToken).ConfigureAwait(false);
            return live.Count(i => i.State?.Name?.Value == "running" && ids.Contains(i.InstanceId));
        }
    }

    /// <summary>A kept cluster's instances wait for a client for as long as it is kept, and for work at least as long.</summary>
    private static WorkerLaunch Keeping(WorkerLaunch launch)
        => launch.KeepAlive <= TimeSpan.Zero
            ? launch
            : launch with
            {
                NoClientTimeout = launch.KeepAlive,
                IdleTimeout = launch.IdleTimeout == Timeout.InfiniteTimeSpan || launch.IdleTimeout >= launch.KeepAlive ? launch.IdleTimeout : launch.KeepAlive,
            };

    private static KeptName? KeptNameOf(WorkerLaunch launch)
        => launch is { KeepAlive: var keepAlive, ClusterName: { } name } && keepAlive > TimeSpan.Zero ? new KeptName(name, keepAlive) : null;

    /// <summary>Records what an adopted instance costs from now: its type, market and zone, at today's price.</summary>
    private async Task PriceAsync(Instance instance, SpotPrices spotPrices, CancellationToken cancellationToken)
    {
        var type = instance.InstanceType?.Value ?? _options.InstanceType;
        var zone = instance.Placement?.AvailabilityZone ?? string.Empty;
        var spot = instance.InstanceLifecycle?.Value == "spot";
        var hourly = spot ? (await spotPrices.HourlyAsync(type, zone, cancellationToken).ConfigureAwait(false)).Hourly ?? InstancePrices.OnDemandHourly(type) : InstancePrices.OnDemandHourly(type);
        _resources.Found([instance.InstanceId]);
        _resources.Priced(
            [instance.InstanceId], new LaunchCandidate(type, instance.SubnetId ?? string.Empty, zone, spot), hourly,
            _options.RootVolumeGiB ?? AmazonLinuxImage.RootVolumeGiB, publicAddress: !string.IsNullOrEmpty(instance.PublicIpAddress));
    }

    /// <summary>
    /// A kept cluster none of whose registered instances can be used: what carries its tag (<paramref name="tagged"/>
    /// instances, its security group) is terminated, waited for and deleted.
    /// </summary>
    /// <exception cref="ClusterStartException">Something could not be removed; the message says what, and how to remove it.</exception>
    private async Task RemoveLeftoversAsync(
        Amazon.EC2.IAmazonEC2 client, string name, string clusterName, string region, IReadOnlyList<string> tagged, IReadOnlyDictionary<string, string> properties, ILogger logger)
    {
        var resources = new ClusterResources(_time);
        resources.Found(tagged);
        if (properties.TryGetValue(SecurityGroupProperty, out var group))
        {
            resources.SecurityGroupCreated(group);
        }

        try
        {
            await new ClusterTeardown(client, resources, clusterName, region, _options.InstanceType, _tuning, _time, logger)
                .TeardownAsync("none of the kept instances can be used").ConfigureAwait(false);
        }
        catch (Ec2TeardownException ex)
        {
            client.Dispose();
            throw new ClusterStartException($"Named cluster '{name}' has no instance this start can use, and removing what is left of it failed: {ex.Message}", ex);
        }
    }

    /// <summary>More instances for an adopted cluster: the first time, the staging and the placement are prepared.</summary>
    private IAsyncEnumerable<WorkerEndpoint> AddAdoptedWorkersAsync(Adoption adoption, WorkerLaunch launch, CancellationToken cancellationToken)
        => AddWorkersAsync(token => AdoptedTopUpAsync(adoption, token), launch, cancellationToken);

    private async Task<WorkerTopUp> AdoptedTopUpAsync(Adoption adoption, CancellationToken cancellationToken)
    {
        await _adopting.WaitAsync(cancellationToken).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            if (Volatile.Read(ref _topUp) is { } made)
            {
                return made;
            }

            var client = _client!;
            var staging = _staging ??= new ClusterStaging(_options, _tuning, _time, ClusterName, _logger);
            await staging.CheckAsync(adoption.Credentials, adoption.Region, cancellationToken).ConfigureAwait(false);
            await staging.PrepareAsync(adoption.Credentials, adoption.Region, cancellationToken).ConfigureAwait(false);
            var launcher = new InstanceLauncher(client, _options, adoption.Region, ClusterName, _owner, _resources, _tuning, _time, _logger) { Kept = _keptName };
            launcher.Adopted(adoption.Expires);
            var placement = await launcher.PlaceAsync(cancellationToken).ConfigureAwait(false);
            var topUp = new WorkerTopUp(client, _options, ClusterName, launcher, placement, staging, adoption.Variables, _tuning, _time, _logger,
                (ids, ready, requested) => TerminateLateAsync(ids, ready, requested, _logger));
            Volatile.Write(ref _topUp, topUp);
            return topUp;
        }
        finally
        {
            _adopting.Release();
        }
    }

    /// <summary>What an adopted cluster needs to add instances: the credentials and region, when its instances power off, the variables its workers get.</summary>
    private sealed record Adoption(AWSCredentials Credentials, string Region, DateTimeOffset Expires, IReadOnlyDictionary<string, string>? Variables);
}
