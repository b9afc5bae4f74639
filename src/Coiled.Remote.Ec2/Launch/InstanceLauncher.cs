using System.Globalization;
using Amazon.EC2;
using Amazon.EC2.Model;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Ec2;

/// <summary>
/// Launches a cluster's instances: finds the image and the subnets, creates the security group admitting only the
/// caller, and runs tagged instances whose user data fetches and starts the worker, taking whatever capacity EC2 has
/// across subnets, instance types and markets (spot first where asked), and asking again until the cluster has them
/// or the capacity deadline comes. What it creates it records in <see cref="ClusterResources"/> before anything else
/// can fail, so that teardown finds it.
/// </summary>
internal sealed class InstanceLauncher(
    IAmazonEC2 client, Ec2Options options, string region, string clusterName, OwnerIdentity owner, ClusterResources resources,
    Ec2Tuning tuning, TimeProvider time, ILogger logger)
{
    private readonly SpotPrices _spotPrices = new(client, time);
    private int _launches;
    private readonly string _launcherId = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4));

    /// <summary>Where the instances can go, found and checked before anything is created.</summary>
    /// <param name="ImageId">The machine image.</param>
    /// <param name="RootDevice">The image's root device, to size when <see cref="Ec2Options.RootVolumeGiB"/> is set; else null.</param>
    /// <param name="RootVolumeGiB">The size of each instance's root volume: <see cref="Ec2Options.RootVolumeGiB"/>, else the image's own.</param>
    /// <param name="VpcId">The subnets' VPC, where the security group goes.</param>
    /// <param name="IngressCidr">Who may reach the workers.</param>
    /// <param name="Candidates">Each offered type in each subnet, in each market asked for.</param>
    public sealed record Placement(string ImageId, string? RootDevice, int RootVolumeGiB, string VpcId, string IngressCidr, IReadOnlyList<LaunchCandidate> Candidates);

    /// <summary>The instance types to launch, in order of preference: <see cref="Ec2Options.InstanceTypes"/>, else <see cref="Ec2Options.InstanceType"/>.</summary>
    public static IReadOnlyList<string> TypesOf(Ec2Options options) => options.InstanceTypes.Count > 0 ? options.InstanceTypes : [options.InstanceType];

    /// <summary>The one architecture of the cluster's instance types.</summary>
    /// <exception cref="ClusterStartException">The types mix architectures: a cluster runs one worker build.</exception>
    public static string ArchitectureOf(Ec2Options options)
    {
        var types = TypesOf(options);
        var architectures = types.GroupBy(InstanceArchitecture.Of).ToList();
        return architectures.Count == 1
            ? architectures[0].Key
            : throw new ClusterStartException(
                $"Ec2Options.InstanceTypes mixes architectures ({string.Join("; ", architectures.Select(a => $"{a.Key}: {string.Join(", ", a)}"))}); " +
                "a cluster's workers share one image and one worker build. List types of one architecture.");
    }

    /// <summary>
    /// Finds the image, the subnets and the caller's address, and which subnets' zones offer which types; it creates
    /// nothing, so that a start fails here before anything is staged or billed.
    /// </summary>
    public async Task<Placement> PlaceAsync(CancellationToken cancellationToken)
    {
        var architecture = ArchitectureOf(options);
        var image = options.ImageId is { Length: > 0 } given
            ? AmazonLinuxImage.DescribeAsync(client, given, cancellationToken)
            : AmazonLinuxImage.FindNewestAsync(client, architecture, region, cancellationToken);
        var subnets = FindSubnetsAsync(cancellationToken);
        var ingress = options.PrivateAddresses ? Task.FromResult(string.Empty) : IngressRangeAsync(cancellationToken);
        await Task.WhenAll(image, subnets, ingress).ConfigureAwait(false);
        var (vpcId, found) = await subnets.ConfigureAwait(false);
        if (options.PrivateAddresses)
        {
            ingress = Task.FromResult(options.AllowIngressFrom ?? await VpcRangeAsync(vpcId, cancellationToken).ConfigureAwait(false));
        }
        var offered = await CapacityCheck.OfferedAsync(client, TypesOf(options), found, region, cancellationToken).ConfigureAwait(false);
        var markets = options.Spot ? new[] { true, false } : [false];
        var candidates = offered.SelectMany(o => markets.Select(spot => new LaunchCandidate(o.Type, o.SubnetId, o.Zone, spot))).ToList();
        var machine = await image.ConfigureAwait(false);
        var imageRoot = AmazonLinuxImage.RootVolumeGiBOf(machine);
        if (options.RootVolumeGiB is { } asked && asked < imageRoot)
        {
            throw new ClusterStartException(
                $"Ec2Options.RootVolumeGiB is {asked} GiB, smaller than the root snapshot of the image {machine.ImageId} ({imageRoot} GiB), which EC2 refuses. " +
                $"Nothing was started. Set RootVolumeGiB to {imageRoot} or more, or leave it unset for the image's own size.");
        }

        return new Placement(machine.ImageId, machine.RootDeviceName, options.RootVolumeGiB ?? imageRoot, vpcId, await ingress.ConfigureAwait(false), candidates);
    }


    /// <summary>When the cluster's instances power themselves off and the sweep may remove them; set by <see cref="LaunchAsync"/>.</summary>
    public DateTimeOffset? Expires { get; private set; }

    /// <summary>The named cluster whose instances outlive their client, which their tags say; null for a cluster that ends with its client.</summary>
    public KeptName? Kept { get; init; }

    /// <summary>
    /// For a kept cluster that this process attached to: its security group exists and its instances power off at
    /// <paramref name="expires"/>; <see cref="LaunchMoreAsync"/> adds to it.
    /// </summary>
    public void Adopted(DateTimeOffset expires) => Expires = expires;

    /// <summary>
    /// Creates the security group and launches up to <paramref name="count"/> instances that boot with
    /// <paramref name="script"/> where EC2 has room (<see cref="CapacityHunt"/>), returning once at least
    /// <paramref name="minimum"/> are launched; the rest are asked for in the background (see <see cref="CapacityHunt.HuntAsync"/>).
    /// Each launch's instances are passed to <paramref name="launched"/> as EC2 names them.
    /// </summary>
    /// <exception cref="ClusterStartException">Fewer than <paramref name="minimum"/> could be launched: a quota, or no capacity anywhere.</exception>
    public async Task<(int Launched, Task<(int Launched, string? Shortfall)> Remaining)> LaunchAsync(
        Placement placement, int count, int minimum, string script, Action<IReadOnlyList<string>> launched, CancellationToken cancellationToken)
    {
        var expires = time.GetUtcNow() + options.MaxLifetime;
        Expires = expires;
        await CreateSecurityGroupAsync(placement.VpcId, placement.IngressCidr, expires, cancellationToken).ConfigureAwait(false);
        var hunt = new CapacityHunt(client, options, region, clusterName, tuning, time, logger, (candidate, asked, token) => RunAsync(candidate, asked, placement, script, expires, launched, token));
        return await hunt.HuntAsync(placement.Candidates, count, minimum, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// After <see cref="LaunchAsync"/>: launches up to <paramref name="count"/> more instances into the cluster's security
    /// group, in the zone of its instances when EC2 has room there, as <see cref="LaunchAsync"/> does; each launch's
    /// instances are passed to <paramref name="launched"/> as EC2 names them.
    /// </summary>
    /// <exception cref="ClusterStartException">Fewer than <paramref name="minimum"/> could be launched.</exception>
    public Task<(int Launched, Task<(int Launched, string? Shortfall)> Remaining)> LaunchMoreAsync(
        Placement placement, int count, int minimum, string script, Action<IReadOnlyList<string>> launched, CancellationToken cancellationToken)
    {
        var expires = Expires ?? throw new InvalidOperationException("LaunchAsync comes first.");
        var hunt = new CapacityHunt(client, options, region, clusterName, tuning, time, logger, (candidate, asked, token) => RunAsync(candidate, asked, placement, script, expires, launched, token));
        return hunt.HuntAsync(placement.Candidates, count, minimum, cancellationToken, resources.Zone);
    }

    private async Task<(string VpcId, IReadOnlyList<(string SubnetId, string Zone)> Subnets)> FindSubnetsAsync(CancellationToken cancellationToken)
    {
        var given = options.SubnetIds.Count > 0 ? options.SubnetIds : options.SubnetId is { Length: > 0 } one ? [one] : [];
        var request = given.Count > 0
            ? new DescribeSubnetsRequest { SubnetIds = [.. given] }
            : new DescribeSubnetsRequest { Filters = [new Filter("default-for-az", ["true"]), new Filter("state", ["available"])] };
        var response = await client.DescribeSubnetsAsync(request, cancellationToken).ConfigureAwait(false);
        var subnets = (response.Subnets ?? []).OrderBy(s => s.AvailabilityZone, StringComparer.Ordinal).ThenBy(s => s.SubnetId, StringComparer.Ordinal).ToList();
        if (subnets.Count == 0)
        {
            throw new ClusterStartException(given.Count == 0
                ? $"The region {region} has no default VPC with default subnets, where Coiled.Remote puts workers unless told otherwise. " +
                  "Create one with `aws ec2 create-default-vpc`, or set Ec2Options.SubnetId (or SubnetIds) to a public subnet."
                : $"The subnet(s) {string.Join(", ", given)} were not found in {region}. Check Ec2Options.SubnetId (or SubnetIds) and Ec2Options.Region.");
        }

        var vpcs = subnets.Select(s => s.VpcId).Distinct(StringComparer.Ordinal).ToList();
        if (vpcs.Count > 1)
        {
            throw new ClusterStartException(
                $"Ec2Options.SubnetIds names subnets of {vpcs.Count} VPCs ({string.Join(", ", subnets.Select(s => $"{s.SubnetId} in {s.VpcId}"))}); " +
                "a cluster's security group belongs to one VPC. List subnets of one VPC.");
        }

        return (vpcs[0], [.. subnets.Select(s => (s.SubnetId, s.AvailabilityZone))]);
    }

    /// <summary>The VPC's own address range: who reaches private addresses there.</summary>
    private async Task<string> VpcRangeAsync(string vpcId, CancellationToken cancellationToken)
    {
        var response = await client.DescribeVpcsAsync(new DescribeVpcsRequest { VpcIds = [vpcId] }, cancellationToken).ConfigureAwait(false);
        return response.Vpcs?.FirstOrDefault()?.CidrBlock
            ?? throw new ClusterStartException($"The VPC {vpcId} of the cluster's subnets has no IPv4 range to admit. Set Ec2Options.AllowIngressFrom to the range of the caller.");
    }

    private async Task<string> IngressRangeAsync(CancellationToken cancellationToken)
    {
        if (options.AllowIngressFrom is { } given)
        {
            return given;
        }

        var resolve = tuning.ResolveCallerAddress ?? CallerAddress.ResolveAsync;
        return CallerAddress.ToCidr(await resolve(cancellationToken).ConfigureAwait(false));
    }

    private async Task CreateSecurityGroupAsync(string vpcId, string cidr, DateTimeOffset expires, CancellationToken cancellationToken)
    {
        var created = await client.CreateSecurityGroupAsync(new CreateSecurityGroupRequest
        {
            GroupName = clusterName,
            Description = $"Coiled.Remote cluster {clusterName}: worker port {options.WorkerPort} from {cidr}",
            VpcId = vpcId,
            TagSpecifications = [new TagSpecification { ResourceType = ResourceType.SecurityGroup, Tags = Tags(expires, $"{clusterName} workers") }],
        }, cancellationToken).ConfigureAwait(false);
        var groupId = created.GroupId;
        resources.SecurityGroupCreated(groupId);
        logger.SecurityGroupCreated(groupId, clusterName, vpcId, cidr, options.WorkerPort);

        // The worker's one port carries its gRPC calls and its bulk data alike.
        var ports = options.KeyName is null
            ? new[] { (From: options.WorkerPort, To: options.WorkerPort) }
            : [(options.WorkerPort, options.WorkerPort), (22, 22)];
        var permissions = ports.Select(port => new IpPermission
        {
            IpProtocol = "tcp",
            FromPort = port.From,
            ToPort = port.To,
            Ipv4Ranges = CallerAddress.IsIPv6(cidr) ? null : [new IpRange { CidrIp = cidr, Description = $"{clusterName} caller" }],
            Ipv6Ranges = CallerAddress.IsIPv6(cidr) ? [new Ipv6Range { CidrIpv6 = cidr, Description = $"{clusterName} caller" }] : null,
        }).ToList();

        // A group just created can be briefly unknown to the next call (eventual consistency).
        await Ec2Calls.RetryAsync(
            () => client.AuthorizeSecurityGroupIngressAsync(new AuthorizeSecurityGroupIngressRequest { GroupId = groupId, IpPermissions = permissions }, cancellationToken),
            Ec2ErrorCodes.GroupNotFound, tuning, time, cancellationToken).ConfigureAwait(false);
    }


    /// <summary>One RunInstances call of MinCount 1 and MaxCount <paramref name="count"/>, with a client token of its own; returns how many EC2 launched.</summary>
    private async Task<int> RunAsync(
        LaunchCandidate candidate, int count, Placement placement, string script, DateTimeOffset expires, Action<IReadOnlyList<string>> launched, CancellationToken cancellationToken)
    {
        var tags = Tags(expires, $"{clusterName} worker");
        var tagged = new List<ResourceType> { ResourceType.Instance, ResourceType.Volume, ResourceType.NetworkInterface };
        if (candidate.Spot)
        {
            tagged.Add(ResourceType.SpotInstancesRequest);
        }

        // The client token makes the SDK's retries of this call idempotent, and finds its instances if its answer is lost.
        // Unique to this launcher: a later process that adds instances to a kept cluster must not get an earlier
        // process's launch back from EC2 for the same token.
        var clientToken = $"{clusterName}-{_launcherId}-{Interlocked.Increment(ref _launches).ToString(CultureInfo.InvariantCulture)}";
        var request = new RunInstancesRequest
        {
            ImageId = placement.ImageId,
            InstanceType = InstanceType.FindValue(candidate.InstanceType),
            IamInstanceProfile = options.InstanceProfile switch
            {
                null => null,
                { } arn when arn.StartsWith("arn:", StringComparison.Ordinal) => new IamInstanceProfileSpecification { Arn = arn },
                { } name => new IamInstanceProfileSpecification { Name = name },
            },
            BlockDeviceMappings = options.RootVolumeGiB is { } gib
                ?
                [
                    new BlockDeviceMapping
                    {
                        DeviceName = placement.RootDevice ?? "/dev/xvda",
                        Ebs = new EbsBlockDevice { VolumeSize = gib, VolumeType = VolumeType.Gp3, Encrypted = true, DeleteOnTermination = true },
                    },
                ]
                : null,
            MinCount = 1,
            MaxCount = count,
            ClientToken = clientToken,
            KeyName = options.KeyName,
            UserData = UserDataScript.Encode(script),
            InstanceInitiatedShutdownBehavior = ShutdownBehavior.Terminate,
            MetadataOptions = new InstanceMetadataOptionsRequest
            {
                HttpEndpoint = InstanceMetadataEndpointState.Enabled,
                HttpTokens = HttpTokensState.Required,
                HttpPutResponseHopLimit = 2,
            },
            NetworkInterfaces =
            [
                new InstanceNetworkInterfaceSpecification
                {
                    DeviceIndex = 0,
                    SubnetId = candidate.SubnetId,
                    Groups = [resources.SecurityGroupId!],
                    AssociatePublicIpAddress = !options.PrivateAddresses,
                    DeleteOnTermination = true,
                },
            ],
            TagSpecifications = [.. tagged.Select(t => new TagSpecification { ResourceType = t, Tags = tags })],
            InstanceMarketOptions = candidate.Spot
                ? new InstanceMarketOptionsRequest
                {
                    MarketType = MarketType.Spot,
                    SpotOptions = new SpotMarketOptions
                    {
                        SpotInstanceType = SpotInstanceType.OneTime,
                        InstanceInterruptionBehavior = InstanceInterruptionBehavior.Terminate,
                    },
                }
                : null,
        };

        // Until EC2 answers, instances may exist that no id names yet: teardown finds them by the client token.
        resources.LaunchSent(clientToken);
        List<Instance> instances;
        try
        {
            var response = await client.RunInstancesAsync(request, cancellationToken).ConfigureAwait(false);
            instances = response.Reservation?.Instances ?? [];
        }
        catch (AmazonEC2Exception ex) when (ex.StatusCode < System.Net.HttpStatusCode.InternalServerError)
        {
            // A refusal: EC2 launched nothing.
            resources.LaunchRefused(clientToken);
            throw;
        }
        catch (AmazonEC2Exception ex)
        {
            // EC2 failed after the SDK's retries, perhaps after it launched: what carries the client token is the launch's.
            // If nothing does yet, the token stays unanswered and teardown looks for it again.
            instances = await Ec2Calls.FindLiveAsync(
                client, [new Filter("client-token", [clientToken]), new Filter("tag:" + ClusterTags.Cluster, [clusterName])], cancellationToken).ConfigureAwait(false);
            if (instances.Count == 0)
            {
                throw;
            }

            logger.LaunchFoundAfterError(ex.ErrorCode, instances.Count, clientToken);
        }

        resources.Launched(clientToken, instances);
        var ids = instances.Select(i => i.InstanceId).ToList();
        launched(ids);
        var hourly = candidate.Spot
            ? await SpotPriceAsync(candidate.InstanceType, candidate.Zone, cancellationToken).ConfigureAwait(false)
            : InstancePrices.OnDemandHourly(candidate.InstanceType);
        resources.Priced(ids, candidate, hourly, placement.RootVolumeGiB, publicAddress: !options.PrivateAddresses);
        if (hourly is null)
        {
            logger.NoPriceKnown(candidate.InstanceType);
        }

        logger.Launched(ids.Count, candidate.InstanceType, candidate.Market, candidate.Zone, placement.ImageId, string.Join(", ", ids));
        return ids.Count;
    }

    /// <summary>The zone's spot price of the type, or its on-demand price (logged) when EC2 gives none.</summary>
    private async Task<decimal?> SpotPriceAsync(string instanceType, string zone, CancellationToken cancellationToken)
    {
        var (hourly, unknown) = await _spotPrices.HourlyAsync(instanceType, zone, cancellationToken).ConfigureAwait(false);
        if (hourly is { } price)
        {
            return price;
        }

        logger.SpotPriceUnknown(instanceType, zone, unknown ?? "no price");
        return InstancePrices.OnDemandHourly(instanceType);
    }

    private List<Tag> Tags(DateTimeOffset expires, string name) => ClusterTags.For(clusterName, owner, expires, options.Tags, name, Kept);
}
