using System.Globalization;
using Amazon.EC2;
using Amazon.EC2.Model;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Ec2;

/// <summary>
/// Launches a cluster's instances: finds the image and the subnet, creates the security group admitting only the
/// caller, and runs tagged instances whose user data fetches and starts the worker, spot first where asked, with
/// on-demand fallback. What it creates it records in <see cref="ClusterResources"/> before anything else can fail, so
/// that teardown finds it.
/// </summary>
internal sealed class InstanceLauncher(
    IAmazonEC2 client, Ec2Options options, string region, string clusterName, OwnerIdentity owner, ClusterResources resources,
    Ec2Tuning tuning, TimeProvider time, ILogger logger)
{
    /// <summary>Where the instances will go, found and checked before anything is created.</summary>
    /// <param name="ImageId">The machine image.</param>
    /// <param name="SubnetId">The subnet.</param>
    /// <param name="VpcId">The subnet's VPC, where the security group goes.</param>
    /// <param name="Zone">The subnet's availability zone, which offers the instance type.</param>
    /// <param name="IngressCidr">Who may reach the workers.</param>
    public sealed record Placement(string ImageId, string SubnetId, string VpcId, string Zone, string IngressCidr);

    /// <summary>
    /// Finds the image, the subnet and the caller's address, and checks that the zone offers the instance type; it
    /// creates nothing, so that a start fails here before anything is staged or billed.
    /// </summary>
    public async Task<Placement> PlaceAsync(CancellationToken cancellationToken)
    {
        var architecture = InstanceArchitecture.Of(options.InstanceType);
        var image = options.ImageId is { Length: > 0 } given
            ? Task.FromResult(given)
            : AmazonLinuxImage.FindNewestAsync(client, architecture, region, cancellationToken);
        var subnet = FindSubnetAsync(cancellationToken);
        var ingress = IngressRangeAsync(cancellationToken);
        await Task.WhenAll(image, subnet, ingress).ConfigureAwait(false);
        var (subnetId, vpcId, zone) = await subnet.ConfigureAwait(false);
        await CapacityCheck.EnsureOfferedAsync(client, options.InstanceType, zone, region, cancellationToken).ConfigureAwait(false);
        return new Placement(await image.ConfigureAwait(false), subnetId, vpcId, zone, await ingress.ConfigureAwait(false));
    }

    /// <summary>Creates the security group and launches <paramref name="count"/> instances that boot with <paramref name="script"/> as their user data.</summary>
    public async Task LaunchAsync(Placement placement, int count, string script, CancellationToken cancellationToken)
    {
        var expires = time.GetUtcNow() + options.MaxLifetime;
        await CreateSecurityGroupAsync(placement.VpcId, placement.IngressCidr, expires, cancellationToken).ConfigureAwait(false);

        var spot = await RunInstancesAsync(count, placement.ImageId, placement.SubnetId, placement.Zone, script, expires, cancellationToken).ConfigureAwait(false);
        var hourly = spot ? await SpotPriceAsync(placement.Zone, cancellationToken).ConfigureAwait(false) : InstancePrices.OnDemandHourly(options.InstanceType);
        resources.Priced(hourly);
        if (hourly is null)
        {
            logger.NoPriceKnown(options.InstanceType);
        }
    }

    private async Task<(string SubnetId, string VpcId, string Zone)> FindSubnetAsync(CancellationToken cancellationToken)
    {
        var request = options.SubnetId is { Length: > 0 } id
            ? new DescribeSubnetsRequest { SubnetIds = [id] }
            : new DescribeSubnetsRequest { Filters = [new Filter("default-for-az", ["true"]), new Filter("state", ["available"])] };
        var response = await client.DescribeSubnetsAsync(request, cancellationToken).ConfigureAwait(false);

        // All workers in one zone: traffic between them and spot prices stay within it.
        var subnet = (response.Subnets ?? []).OrderBy(s => s.AvailabilityZone, StringComparer.Ordinal).FirstOrDefault()
            ?? throw new ClusterStartException(options.SubnetId is null
                ? $"The region {region} has no default VPC with default subnets, where Coiled.Remote puts workers unless told otherwise. " +
                  "Create one with `aws ec2 create-default-vpc`, or set Ec2Options.SubnetId to a public subnet."
                : $"The subnet {options.SubnetId} was not found in {region}. Check Ec2Options.SubnetId and Ec2Options.Region.");
        return (subnet.SubnetId, subnet.VpcId, subnet.AvailabilityZone);
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

    /// <summary>Launches the instances; true when they are spot instances.</summary>
    private async Task<bool> RunInstancesAsync(int count, string imageId, string subnetId, string zone, string script, DateTimeOffset expires, CancellationToken cancellationToken)
    {
        if (options.Spot)
        {
            try
            {
                await RunAsync(count, imageId, subnetId, zone, script, expires, spot: true, cancellationToken).ConfigureAwait(false);
                return true;
            }
            catch (AmazonEC2Exception ex) when (Ec2ErrorCodes.SpotFallback.Contains(ex.ErrorCode))
            {
                logger.SpotUnavailable(options.InstanceType, zone, ex.ErrorCode, ex.Message);
            }
        }

        await RunAsync(count, imageId, subnetId, zone, script, expires, spot: false, cancellationToken).ConfigureAwait(false);
        return false;
    }

    private async Task RunAsync(
        int count, string imageId, string subnetId, string zone, string script, DateTimeOffset expires, bool spot, CancellationToken cancellationToken)
    {
        var tags = Tags(expires, $"{clusterName} worker");
        var tagged = new List<ResourceType> { ResourceType.Instance, ResourceType.Volume, ResourceType.NetworkInterface };
        if (spot)
        {
            tagged.Add(ResourceType.SpotInstancesRequest);
        }

        // The client token makes a retried call idempotent and finds the instances of a call whose answer was lost.
        var clientToken = $"{clusterName}-{(spot ? "spot" : "on-demand")}";
        var request = new RunInstancesRequest
        {
            ImageId = imageId,
            InstanceType = InstanceType.FindValue(options.InstanceType),
            MinCount = count,
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
                    SubnetId = subnetId,
                    Groups = [resources.SecurityGroupId!],
                    AssociatePublicIpAddress = true,
                    DeleteOnTermination = true,
                },
            ],
            TagSpecifications = [.. tagged.Select(t => new TagSpecification { ResourceType = t, Tags = tags })],
            InstanceMarketOptions = spot
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
        RunInstancesResponse response;
        try
        {
            response = await client.RunInstancesAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonEC2Exception ex)
        {
            resources.LaunchRefused(clientToken);
            if (ex.ErrorCode == "VcpuLimitExceeded")
            {
                throw await CapacityCheck.QuotaExceededAsync(client, ex, options.InstanceType, count, region, cancellationToken).ConfigureAwait(false);
            }

            throw;
        }

        resources.Launched(clientToken, response.Reservation?.Instances ?? []);
        logger.Launched(
            count, options.InstanceType, spot ? "spot" : "on-demand", zone, imageId, string.Join(", ", resources.InstanceIds));
    }

    private async Task<decimal?> SpotPriceAsync(string zone, CancellationToken cancellationToken)
    {
        try
        {
            // The price history's entry at StartTime=now is the current price.
            var response = await client.DescribeSpotPriceHistoryAsync(new DescribeSpotPriceHistoryRequest
            {
                InstanceTypes = [options.InstanceType],
                ProductDescriptions = ["Linux/UNIX"],
                AvailabilityZone = zone,
                StartTime = time.GetUtcNow().UtcDateTime,
            }, cancellationToken).ConfigureAwait(false);
            var latest = (response.SpotPriceHistory ?? []).OrderByDescending(p => p.Timestamp).FirstOrDefault();
            if (latest is not null && decimal.TryParse(latest.Price, NumberStyles.Number, CultureInfo.InvariantCulture, out var price))
            {
                return price;
            }
        }
        catch (AmazonEC2Exception ex)
        {
            logger.SpotPriceUnknown(options.InstanceType, zone, ex.Message);
        }

        return InstancePrices.OnDemandHourly(options.InstanceType);
    }

    private List<Tag> Tags(DateTimeOffset expires, string name) => ClusterTags.For(clusterName, owner, expires, options.Tags, name);
}
