using Amazon.Runtime;

namespace Coiled.Remote.Ec2;

/// <summary>Where and how <see cref="Ec2Backend"/> starts EC2 instances for a cluster.</summary>
public sealed record Ec2Options
{
    internal const string DefaultInstanceType = "c7i.large";
    internal const int DefaultWorkerPort = 7400;
    internal static readonly TimeSpan DefaultMaxLifetime = TimeSpan.FromHours(12);
    internal static readonly TimeSpan DefaultCapacityTimeout = TimeSpan.FromMinutes(5);

    /// <summary>The AWS region, e.g. <c>us-east-1</c>. Default: the SDK's usual chain (<c>AWS_REGION</c>, then the profile).</summary>
    public string? Region { get; init; }

    /// <summary>
    /// The instance type of every worker. Default <c>c7i.large</c>. Graviton types such as <c>c7g.large</c> get the
    /// arm64 image, and the workers then load the <c>linux-arm64</c> native assets of the application.
    /// </summary>
    public string InstanceType { get; init; } = DefaultInstanceType;

    /// <summary>
    /// Instance types to launch, in order of preference: in each zone (the cluster's zone first) and market (spot
    /// first when <see cref="Spot"/>), where EC2 has no capacity for the first type, the next is tried, and so on. All
    /// must share one architecture. Default: empty, which means <see cref="InstanceType"/> alone.
    /// </summary>
    public IReadOnlyList<string> InstanceTypes { get; init; } = [];

    /// <summary>The machine image. Default: the newest Amazon Linux 2023 image for the instance type's architecture.</summary>
    public string? ImageId { get; init; }

    /// <summary>
    /// The one subnet of every worker; shorthand for a <see cref="SubnetIds"/> of one. Default: the default subnets of
    /// the default VPC, one per availability zone.
    /// </summary>
    public string? SubnetId { get; init; }

    /// <summary>
    /// Subnets to launch in, all of one VPC. Workers go to one subnet's zone while it has capacity (traffic between
    /// zones is billed), and to the others' when it does not. Default: empty, which means <see cref="SubnetId"/>, or the
    /// default subnets of the default VPC.
    /// </summary>
    public IReadOnlyList<string> SubnetIds { get; init; } = [];

    /// <summary>
    /// How long a start keeps asking EC2 for instances it has no capacity for (every subnet, type and market refused),
    /// retrying every 15 s. Once <see cref="ClusterOptions.MinimumWorkers"/> instances are launched, the cluster starts
    /// with them and the rest join as capacity comes, until the deadline; with fewer than the minimum at the deadline
    /// the start fails and terminates what it launched. From 0 (one round) to 1
    /// hour; default 5 minutes.
    /// </summary>
    public TimeSpan CapacityTimeout { get; init; } = DefaultCapacityTimeout;

    /// <summary>
    /// An IAM instance profile for the workers (its name, or its ARN), so that tasks reach AWS with the SDK's default
    /// chain on the worker and credentials that refresh themselves. The caller then needs <c>iam:PassRole</c> on its
    /// role. Default: none.
    /// </summary>
    public string? InstanceProfile { get; init; }

    /// <summary>
    /// The size of each worker's root volume in GiB (gp3, encrypted, deleted on termination), which holds the worker's
    /// cache: the application's files and the staged shared values. From 8 to 16,384. Default: the image's own size
    /// (8 GiB for Amazon Linux 2023).
    /// </summary>
    public int? RootVolumeGiB { get; init; }

    /// <summary>
    /// Give the workers no public address and connect to their private ones: for a caller inside the VPC (or joined to
    /// it by VPN or peering), and no public IPv4 charge. The security group then admits the VPC's own range unless
    /// <see cref="AllowIngressFrom"/> says otherwise, and the subnets need a way to S3 (a gateway endpoint or a NAT).
    /// Default false.
    /// </summary>
    public bool PrivateAddresses { get; init; }

    /// <summary>Use spot instances, falling back to on-demand when spot capacity or price is not available.</summary>
    public bool Spot { get; init; }

    /// <summary>An EC2 key pair for SSH; port 22 is then opened to <see cref="AllowIngressFrom"/> as well. Default: none.</summary>
    public string? KeyName { get; init; }

    /// <summary>
    /// The addresses (CIDR) allowed to reach the workers, e.g. <c>203.0.113.7/32</c>. Default: this machine's public
    /// address as a /32. Nothing is ever opened to <c>0.0.0.0/0</c> unless it is given here.
    /// </summary>
    public string? AllowIngressFrom { get; init; }

    /// <summary>
    /// Instances power themselves off after this long whatever happens, and <c>coiled-remote ec2 cleanup</c> removes
    /// clusters older than this. Default 12 hours.
    /// </summary>
    public TimeSpan MaxLifetime { get; init; } = DefaultMaxLifetime;

    /// <summary>Extra tags for the instances, their volumes and the security group.</summary>
    public IReadOnlyDictionary<string, string> Tags { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// A custom endpoint for the EC2 and STS calls (a VPC endpoint, a proxy, or a local endpoint that serves both).
    /// Default: the region's endpoints.
    /// </summary>
    public Uri? ServiceUrl { get; init; }

    /// <summary>
    /// A custom S3 endpoint for the staging bucket (a VPC endpoint, or a local S3-compatible store), addressed
    /// path-style. Instances fetch from it too, so they must be able to reach it. Default: the region's S3 endpoint.
    /// </summary>
    public Uri? S3ServiceUrl { get; init; }

    /// <summary>The AWS credentials to use. Default: the SDK's usual chain (environment, profile, SSO, instance role).</summary>
    public AWSCredentials? Credentials { get; init; }

    /// <summary>
    /// Hand the caller's current AWS credentials (with the session token where there is one) to [Remote] methods as
    /// the <c>AWS_ACCESS_KEY_ID</c>, <c>AWS_SECRET_ACCESS_KEY</c>, <c>AWS_SESSION_TOKEN</c> and <c>AWS_REGION</c>
    /// environment variables. They travel over the cluster's TLS connection, never in the instances' user data.
    /// Default false.
    /// The credentials are read once, when the workers start; temporary credentials that expire during a long job are
    /// not refreshed on the workers.
    /// </summary>
    public bool ForwardAwsCredentials { get; init; }

    /// <summary>
    /// The one TCP port the workers listen on, for their gRPC calls and large arguments and results alike; the
    /// security group admits the caller on it. Default 7400.
    /// </summary>
    public int WorkerPort { get; init; } = DefaultWorkerPort;

    /// <summary>Ignored: instances fetch the self-contained worker that the Coiled.Remote.Ec2 package brings from the staging bucket.</summary>
    [Obsolete("Instances no longer download the worker from a package feed: they fetch the self-contained worker the Coiled.Remote.Ec2 package brings from the cluster's S3 staging bucket. Remove this setting.")]
    public Uri WorkerPackageSource { get; init; } = new("https://api.nuget.org/v3-flatcontainer/");
}
