using System.Globalization;
using System.Net.Sockets;
using System.Reflection;
using System.Security.Cryptography;
using Amazon.EC2;
using Amazon.EC2.Model;
using Amazon.Runtime;
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
public sealed partial class Ec2Backend : IClusterBackend
{
    internal const int DefaultWorkers = 4;

    private readonly Ec2Options _options;
    private readonly Ec2Tuning _tuning;
    private readonly TimeProvider _time;
    private readonly OwnerIdentity _owner;
    private readonly List<LaunchedInstance> _instances = [];
    private readonly SemaphoreSlim _teardownLock = new(1, 1);
    private IAmazonEC2? _client;
    private AWSCredentials? _credentials;
    private string? _region;
    private ILogger _logger = NullLogger.Instance;
    private RunInstancesRequest? _pendingLaunch;
    private bool _securityGroupDeleted;
    private bool _tornDown;

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
    public decimal? Cost
    {
        get
        {
            var now = _time.GetUtcNow();
            decimal total = 0;
            foreach (var instance in Snapshot())
            {
                if (instance.HourlyPrice is not { } price)
                {
                    return null;
                }

                total += InstancePrices.For(price, (instance.TerminatedAt ?? now) - instance.LaunchedAt);
            }

            return total;
        }
    }

    /// <summary>The instances launched so far.</summary>
    public IReadOnlyList<string> InstanceIds => [.. Snapshot().Select(i => i.Id)];

    /// <summary>The cluster's security group, once created.</summary>
    public string? SecurityGroupId { get; private set; }

    /// <summary>The version of the worker the instances install: the caller's Coiled.Remote version.</summary>
    internal static string WorkerVersion
    {
        get
        {
            var assembly = typeof(Cluster).Assembly;
            var informational = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
            return informational is { Length: > 0 } ? informational.Split('+')[0] : assembly.GetName().Version!.ToString(3);
        }
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<WorkerEndpoint>> StartWorkersAsync(WorkerLaunch launch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(launch);
        if (_client is not null)
        {
            throw new InvalidOperationException("An Ec2Backend starts the workers of one cluster; create a new Ec2Backend for another cluster.");
        }

        _logger = launch.LoggerFactory.CreateLogger<Ec2Backend>();
        (_client, _credentials, _region) = await Ec2ClientFactory.CreateAsync(_options, cancellationToken).ConfigureAwait(false);
        using var starting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        WatchInterrupts(starting);
        try
        {
            return await StartCoreAsync(_client, launch, starting.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _logger.LogWarning("Starting EC2 cluster {Cluster} failed ({Reason}); removing what it created", ClusterName, ex.Message);
            try
            {
                await TeardownAsync(ex is OperationCanceledException ? "the start was cancelled" : "the start failed").ConfigureAwait(false);
            }
            catch (Exception teardown) when (teardown is Ec2TeardownException)
            {
                throw new ClusterStartException($"{ex.Message}{Environment.NewLine}Removing what the start created failed too: {teardown.Message}", ex);
            }

            if (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested && Interrupted)
            {
                throw new OperationCanceledException($"The start of EC2 cluster {ClusterName} was interrupted; its instances were terminated and its security group deleted.", ex);
            }

            throw;
        }
        finally
        {
            StopWatchingStart();
        }
    }

    private async Task<IReadOnlyList<WorkerEndpoint>> StartCoreAsync(IAmazonEC2 client, WorkerLaunch launch, CancellationToken cancellationToken)
    {
        var architecture = InstanceArchitecture.Of(_options.InstanceType);
        var image = _options.ImageId is { Length: > 0 } given
            ? Task.FromResult(given)
            : AmazonLinuxImage.FindNewestAsync(client, architecture, _region!, cancellationToken);
        var subnet = FindSubnetAsync(client, cancellationToken);
        var ingress = IngressRangeAsync(cancellationToken);
        await Task.WhenAll(image, subnet, ingress).ConfigureAwait(false);
        var (subnetId, vpcId, zone) = await subnet.ConfigureAwait(false);

        var expires = _time.GetUtcNow() + _options.MaxLifetime;
        SecurityGroupId = await CreateSecurityGroupAsync(client, vpcId, await ingress.ConfigureAwait(false), expires, cancellationToken).ConfigureAwait(false);

        using var certificate = ClusterCertificate.Create(ClusterName, _options.MaxLifetime + TimeSpan.FromDays(1));
        var script = UserDataScript.Render(new UserDataScript.Settings(
            launch.Token, certificate.ExportPfx(), _options.WorkerPort, WorkerVersion, _options.WorkerPackageSource,
            launch.IdleTimeout, launch.NoClientTimeout, _options.MaxLifetime));

        var imageId = await image.ConfigureAwait(false);
        var spot = await RunInstancesAsync(client, launch.Count, imageId, subnetId, zone, script, expires, cancellationToken).ConfigureAwait(false);
        var hourly = spot ? await SpotPriceAsync(client, zone, cancellationToken).ConfigureAwait(false) : InstancePrices.OnDemandHourly(_options.InstanceType);
        lock (_instances)
        {
            foreach (var instance in _instances)
            {
                instance.HourlyPrice = hourly;
            }
        }

        if (hourly is null)
        {
            _logger.LogInformation("No price is known for {Type}; Cluster.Cost stays unknown", _options.InstanceType);
        }

        var addresses = await WaitForWorkersAsync(client, cancellationToken).ConfigureAwait(false);
        var variables = _options.ForwardAwsCredentials ? await AwsCredentialVariablesAsync().ConfigureAwait(false) : null;
        return [.. addresses.Select(a => new WorkerEndpoint(a) { CertificateThumbprint = certificate.Thumbprint, EnvironmentVariables = variables })];
    }

    private async Task<(string SubnetId, string VpcId, string Zone)> FindSubnetAsync(IAmazonEC2 client, CancellationToken cancellationToken)
    {
        var request = _options.SubnetId is { Length: > 0 } id
            ? new DescribeSubnetsRequest { SubnetIds = [id] }
            : new DescribeSubnetsRequest { Filters = [new Filter("default-for-az", ["true"]), new Filter("state", ["available"])] };
        var response = await client.DescribeSubnetsAsync(request, cancellationToken).ConfigureAwait(false);

        // All workers in one zone: traffic between them and spot prices stay within it.
        var subnet = (response.Subnets ?? []).OrderBy(s => s.AvailabilityZone, StringComparer.Ordinal).FirstOrDefault()
            ?? throw new ClusterStartException(_options.SubnetId is null
                ? $"The region {_region} has no default VPC with default subnets, where Coiled.Remote puts workers unless told otherwise. " +
                  "Create one with `aws ec2 create-default-vpc`, or set Ec2Options.SubnetId to a public subnet."
                : $"The subnet {_options.SubnetId} was not found in {_region}. Check Ec2Options.SubnetId and Ec2Options.Region.");
        return (subnet.SubnetId, subnet.VpcId, subnet.AvailabilityZone);
    }

    private async Task<string> IngressRangeAsync(CancellationToken cancellationToken)
    {
        if (_options.AllowIngressFrom is { } given)
        {
            return given;
        }

        var resolve = _tuning.ResolveCallerAddress ?? CallerAddress.ResolveAsync;
        return CallerAddress.ToCidr(await resolve(cancellationToken).ConfigureAwait(false));
    }

    private async Task<string> CreateSecurityGroupAsync(IAmazonEC2 client, string vpcId, string cidr, DateTimeOffset expires, CancellationToken cancellationToken)
    {
        var created = await client.CreateSecurityGroupAsync(new CreateSecurityGroupRequest
        {
            GroupName = ClusterName,
            Description = $"Coiled.Remote cluster {ClusterName}: worker port {_options.WorkerPort} from {cidr}",
            VpcId = vpcId,
            TagSpecifications = [new TagSpecification { ResourceType = ResourceType.SecurityGroup, Tags = Tags(expires, $"{ClusterName} workers") }],
        }, cancellationToken).ConfigureAwait(false);
        var groupId = created.GroupId;
        SecurityGroupId = groupId;
        _logger.LogInformation("Created security group {Group} ({Name}) in {Vpc}, admitting {Cidr} on port {Port}", groupId, ClusterName, vpcId, cidr, _options.WorkerPort);

        // The worker's one port carries its gRPC calls and its bulk data alike.
        var ports = _options.KeyName is null
            ? new[] { (From: _options.WorkerPort, To: _options.WorkerPort) }
            : [(_options.WorkerPort, _options.WorkerPort), (22, 22)];
        var permissions = ports.Select(port => new IpPermission
        {
            IpProtocol = "tcp",
            FromPort = port.From,
            ToPort = port.To,
            Ipv4Ranges = CallerAddress.IsIPv6(cidr) ? null : [new IpRange { CidrIp = cidr, Description = $"{ClusterName} caller" }],
            Ipv6Ranges = CallerAddress.IsIPv6(cidr) ? [new Ipv6Range { CidrIpv6 = cidr, Description = $"{ClusterName} caller" }] : null,
        }).ToList();

        // A group just created can be briefly unknown to the next call (eventual consistency).
        await Ec2Teardown.RetryAsync(
            () => client.AuthorizeSecurityGroupIngressAsync(new AuthorizeSecurityGroupIngressRequest { GroupId = groupId, IpPermissions = permissions }, cancellationToken),
            Ec2ErrorCodes.GroupNotFound, _tuning, _time, cancellationToken).ConfigureAwait(false);
        return groupId;
    }

    /// <summary>Launches the instances; true when they are spot instances.</summary>
    private async Task<bool> RunInstancesAsync(
        IAmazonEC2 client, int count, string imageId, string subnetId, string zone, string script, DateTimeOffset expires, CancellationToken cancellationToken)
    {
        if (_options.Spot)
        {
            try
            {
                await LaunchAsync(client, count, imageId, subnetId, zone, script, expires, spot: true, cancellationToken).ConfigureAwait(false);
                return true;
            }
            catch (AmazonEC2Exception ex) when (Ec2ErrorCodes.SpotFallback.Contains(ex.ErrorCode))
            {
                _logger.LogWarning(
                    "Spot {Type} instances are not available in {Zone} ({Code}: {Message}); launching on-demand instances instead",
                    _options.InstanceType, zone, ex.ErrorCode, ex.Message);
            }
        }

        await LaunchAsync(client, count, imageId, subnetId, zone, script, expires, spot: false, cancellationToken).ConfigureAwait(false);
        return false;
    }

    private async Task LaunchAsync(
        IAmazonEC2 client, int count, string imageId, string subnetId, string zone, string script, DateTimeOffset expires, bool spot, CancellationToken cancellationToken)
    {
        var name = $"{ClusterName} worker";
        var tags = Tags(expires, name);
        var tagged = new List<ResourceType> { ResourceType.Instance, ResourceType.Volume, ResourceType.NetworkInterface };
        if (spot)
        {
            tagged.Add(ResourceType.SpotInstancesRequest);
        }

        // The client token makes a retried call idempotent and finds the instances of a call whose answer was lost.
        var clientToken = $"{ClusterName}-{(spot ? "spot" : "on-demand")}";
        var request = new RunInstancesRequest
        {
            ImageId = imageId,
            InstanceType = InstanceType.FindValue(_options.InstanceType),
            MinCount = count,
            MaxCount = count,
            ClientToken = clientToken,
            KeyName = _options.KeyName,
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
                    Groups = [SecurityGroupId!],
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

        // Until EC2 answers, instances may exist that no id names yet: teardown repeats this call, which the client
        // token makes return those instances instead of launching more.
        _pendingLaunch = request;
        RunInstancesResponse response;
        try
        {
            response = await client.RunInstancesAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonEC2Exception)
        {
            // EC2 answered with an error: nothing was launched.
            _pendingLaunch = null;
            throw;
        }

        RecordLaunched(response);
        _pendingLaunch = null;
        _logger.LogInformation(
            "Launched {Count} x {Type} ({Market}) in {Zone} from {Image}: {Ids}; waiting for them to boot",
            count, _options.InstanceType, spot ? "spot" : "on-demand", zone, imageId, string.Join(", ", InstanceIds));
    }

    private async Task<decimal?> SpotPriceAsync(IAmazonEC2 client, string zone, CancellationToken cancellationToken)
    {
        try
        {
            // The price history's entry at StartTime=now is the current price.
            var response = await client.DescribeSpotPriceHistoryAsync(new DescribeSpotPriceHistoryRequest
            {
                InstanceTypes = [_options.InstanceType],
                ProductDescriptions = ["Linux/UNIX"],
                AvailabilityZone = zone,
                StartTime = _time.GetUtcNow().UtcDateTime,
            }, cancellationToken).ConfigureAwait(false);
            var latest = (response.SpotPriceHistory ?? []).OrderByDescending(p => p.Timestamp).FirstOrDefault();
            if (latest is not null && decimal.TryParse(latest.Price, NumberStyles.Number, CultureInfo.InvariantCulture, out var price))
            {
                return price;
            }
        }
        catch (AmazonEC2Exception ex)
        {
            _logger.LogInformation("Could not read the spot price of {Type} in {Zone} ({Message}); costs use the on-demand price", _options.InstanceType, zone, ex.Message);
        }

        return InstancePrices.OnDemandHourly(_options.InstanceType);
    }

    private async Task<IReadOnlyList<Uri>> WaitForWorkersAsync(IAmazonEC2 client, CancellationToken cancellationToken)
    {
        var launched = Snapshot();
        var ids = launched.Select(i => i.Id).ToList();
        var deadline = _time.GetUtcNow() + _tuning.BootTimeout;
        var started = _time.GetTimestamp();
        var ready = new Dictionary<string, Uri>(StringComparer.Ordinal);
        while (true)
        {
            var waiting = ids.Where(id => !ready.ContainsKey(id)).ToList();
            foreach (var instance in await Ec2Teardown.DescribeAsync(client, waiting, cancellationToken).ConfigureAwait(false))
            {
                var state = instance.State?.Name?.Value;
                if (state is "shutting-down" or "terminated" or "stopping" or "stopped")
                {
                    var console = await ConsoleOutputAsync(client, instance.InstanceId, cancellationToken).ConfigureAwait(false);
                    throw new ClusterStartException(
                        $"EC2 instance {instance.InstanceId} of cluster {ClusterName} went {state} while booting" +
                        $"{(instance.StateReason?.Message is { } why ? $" ({why})" : string.Empty)}. Its console output:{Environment.NewLine}{console}");
                }

                if (state == "running" && instance.PublicIpAddress is { Length: > 0 } address
                    && await AcceptsConnectionsAsync(address, cancellationToken).ConfigureAwait(false))
                {
                    var endpoint = new Uri($"https://{address}:{_options.WorkerPort.ToString(CultureInfo.InvariantCulture)}");
                    ready[instance.InstanceId] = endpoint;
                    _logger.LogInformation("Worker on {Instance} is up at {Endpoint} ({Ready}/{Count})", instance.InstanceId, endpoint, ready.Count, ids.Count);
                }
            }

            if (ready.Count == ids.Count)
            {
                _logger.LogInformation("All {Count} EC2 worker(s) of {Cluster} are up after {Seconds:0} s", ids.Count, ClusterName, _time.GetElapsedTime(started).TotalSeconds);
                return [.. ids.Select(id => ready[id])];
            }

            if (_time.GetUtcNow() >= deadline)
            {
                throw await BootTimeoutAsync(client, [.. ids.Where(id => !ready.ContainsKey(id))], cancellationToken).ConfigureAwait(false);
            }

            await Task.Delay(_tuning.PollInterval, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<bool> AcceptsConnectionsAsync(string address, CancellationToken cancellationToken)
    {
        using var socket = new TcpClient();
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        attempt.CancelAfter(_tuning.ProbeTimeout);
        try
        {
            await socket.ConnectAsync(address, _options.WorkerPort, attempt.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is SocketException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return false;
        }
    }

    private async Task<ClusterStartException> BootTimeoutAsync(IAmazonEC2 client, IReadOnlyList<string> late, CancellationToken cancellationToken)
    {
        var text = new System.Text.StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{late.Count} EC2 instance(s) of cluster {ClusterName} did not start a worker on port {_options.WorkerPort} within {_tuning.BootTimeout.TotalSeconds:0} s: {string.Join(", ", late)}. ");
        text.Append("Check that this machine can reach them (Ec2Options.AllowIngressFrom, a public subnet) and that they can reach the internet to install .NET and the worker. ");
        text.Append("Their console output (the boot script logs to /var/log/cloud-init-output.log):");
        foreach (var id in late)
        {
            text.AppendLine().Append(CultureInfo.InvariantCulture, $"--- {id} ---").AppendLine();
            text.Append(await ConsoleOutputAsync(client, id, cancellationToken).ConfigureAwait(false));
        }

        return new ClusterStartException(text.ToString());
    }

    /// <summary>The last lines of an instance's console, or why there are none.</summary>
    private async Task<string> ConsoleOutputAsync(IAmazonEC2 client, string instanceId, CancellationToken cancellationToken)
    {
        const int KeptLines = 40;
        GetConsoleOutputResponse response;
        try
        {
            // Latest returns the live serial console on Nitro instances; older types only have the buffered copy.
            response = await client.GetConsoleOutputAsync(new GetConsoleOutputRequest { InstanceId = instanceId, Latest = true }, cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonEC2Exception)
        {
            try
            {
                response = await client.GetConsoleOutputAsync(new GetConsoleOutputRequest { InstanceId = instanceId }, cancellationToken).ConfigureAwait(false);
            }
            catch (AmazonEC2Exception ex)
            {
                return $"(no console output: {ex.Message})";
            }
        }

        if (string.IsNullOrEmpty(response.Output))
        {
            return "(no console output yet: EC2 posts it a few minutes after boot)";
        }

        var lines = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(response.Output)).ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');
        return string.Join(Environment.NewLine, lines.TakeLast(KeptLines));
    }

    /// <summary>
    /// The caller's current AWS credentials as the environment variables the AWS SDKs read, for
    /// <see cref="Ec2Options.ForwardAwsCredentials"/>: sent to tasks over TLS, never written to user data.
    /// </summary>
    internal async Task<IReadOnlyDictionary<string, string>> AwsCredentialVariablesAsync()
    {
        var credentials = await (_credentials ?? throw new InvalidOperationException("The backend has not resolved credentials yet."))
            .GetCredentialsAsync().ConfigureAwait(false);
        var variables = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["AWS_ACCESS_KEY_ID"] = credentials.AccessKey,
            ["AWS_SECRET_ACCESS_KEY"] = credentials.SecretKey,
            ["AWS_REGION"] = _region!,
        };
        if (credentials.UseToken)
        {
            variables["AWS_SESSION_TOKEN"] = credentials.Token;
        }

        return variables;
    }

    private void RecordLaunched(RunInstancesResponse response)
    {
        var launchedAt = _time.GetUtcNow();
        lock (_instances)
        {
            foreach (var instance in response.Reservation?.Instances ?? [])
            {
                if (_instances.All(i => i.Id != instance.InstanceId))
                {
                    _instances.Add(new LaunchedInstance(instance.InstanceId, launchedAt));
                }
            }
        }
    }

    private List<Tag> Tags(DateTimeOffset expires, string name) => ClusterTags.For(ClusterName, _owner, expires, _options.Tags, name);

    private List<LaunchedInstance> Snapshot()
    {
        lock (_instances)
        {
            return [.. _instances];
        }
    }

    /// <summary>One instance this backend launched, and what it costs.</summary>
    private sealed class LaunchedInstance(string id, DateTimeOffset launchedAt)
    {
        public string Id { get; } = id;

        public DateTimeOffset LaunchedAt { get; } = launchedAt;

        public decimal? HourlyPrice { get; set; }

        public DateTimeOffset? TerminatedAt { get; set; }
    }
}
