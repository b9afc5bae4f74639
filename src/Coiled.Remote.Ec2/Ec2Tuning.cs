using System.Net;

namespace Coiled.Remote.Ec2;

/// <summary>
/// How long <see cref="Ec2Backend"/> waits and polls, and the few facts it reads from the machine it runs on. The
/// defaults suit real AWS; tests shorten the waits and supply the facts.
/// </summary>
internal sealed record Ec2Tuning
{
    public static readonly Ec2Tuning Default = new();

    /// <summary>Between two DescribeInstances calls while instances boot or terminate.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>From RunInstances until every worker accepts connections. A boot fetches the worker from S3 and starts it.</summary>
    public TimeSpan BootTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>One TCP connection attempt to a booting worker.</summary>
    public TimeSpan ProbeTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Connects to a booting worker's port (address, port), throwing when it does not answer; default a TCP connection. Tests hold or count probes.</summary>
    public Func<string, int, CancellationToken, Task>? ProbeWorker { get; init; }

    /// <summary>Teardown gives up after this long and says how to finish it.</summary>
    public TimeSpan TeardownTimeout { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// The first wait after a DependencyViolation from DeleteSecurityGroup; it doubles up to
    /// <see cref="MaxRetryDelay"/>. An ENI can hold the group for minutes after its instance terminated.
    /// </summary>
    public TimeSpan FirstRetryDelay { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long TerminateInstances is retried while EC2 answers InvalidInstanceID.NotFound for an instance it launched
    /// (eventual consistency: AWS advises backing off for minutes).
    /// </summary>
    public TimeSpan InstanceNotFoundPatience { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How long after its launch EC2 surely lists an instance: one it does not list after that is gone (EC2 forgets
    /// terminated instances after about an hour), and teardown does not terminate it again.
    /// </summary>
    public TimeSpan InstanceVisibleWithin { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How long teardown looks for the instances of a launch EC2 never answered (by its client token) before it
    /// concludes that the launch started nothing.
    /// </summary>
    public TimeSpan UnansweredLaunchPatience { get; init; } = TimeSpan.FromMinutes(3);

    /// <summary>
    /// How long a launch retries while EC2 does not know <see cref="Ec2Options.InstanceProfile"/>: a profile created
    /// moments before takes seconds to reach EC2 (IAM is eventually consistent).
    /// </summary>
    public TimeSpan InstanceProfilePatience { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Between two rounds of asking EC2 for capacity it refused everywhere; default <see cref="CapacityHunt.RetryInterval"/>.</summary>
    public TimeSpan? CapacityRetryInterval { get; init; }

    /// <summary>The longest wait between two retries.</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Register Ctrl+C and SIGTERM handlers that tear the cluster down before the process ends.</summary>
    public bool HandleInterrupts { get; init; } = true;

    /// <summary>The folder of this machine's registry of named clusters; null for the one local workers use, in the user's cache folder.</summary>
    public string? RegistryDirectory { get; init; }

    /// <summary>Finds this machine's public address for the ingress rule. Default: AWS's checkip service.</summary>
    public Func<CancellationToken, Task<IPAddress>>? ResolveCallerAddress { get; init; }

    /// <summary>The owner written to the <c>coiled-remote:owner</c> tag. Default: this user, machine and process.</summary>
    public OwnerIdentity? Owner { get; init; }

    /// <summary>
    /// The folder holding the self-contained workers (<c>coiled-remote-worker-linux-x64.zip</c>, <c>-linux-arm64.zip</c>).
    /// Default: the <c>Coiled.Remote.Ec2.WorkerBundleDirectory</c> runtime option the package's build sets.
    /// </summary>
    public string? WorkerBundleDirectory { get; init; }

    /// <summary>Whether a process of this machine is alive, for cleanup. Default: asks the operating system.</summary>
    public Func<int, bool>? IsProcessAlive { get; init; }
}
