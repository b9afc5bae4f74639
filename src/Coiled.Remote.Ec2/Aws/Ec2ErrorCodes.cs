namespace Coiled.Remote.Ec2;

/// <summary>EC2 error codes the backend reacts to.</summary>
internal static class Ec2ErrorCodes
{
    /// <summary>
    /// Launches that may succeed elsewhere (another zone, type or market), or later: AWS ParallelCluster's fast-failover
    /// list plus UnfulfillableCapacity, InsufficientCapacity and a subnet out of addresses.
    /// </summary>
    public static readonly HashSet<string> NoCapacity = new(StringComparer.Ordinal)
    {
        "InsufficientInstanceCapacity",
        "InsufficientHostCapacity",
        "InsufficientReservedInstanceCapacity",
        "UnfulfillableCapacity",
        "InsufficientCapacity",
        "InsufficientFreeAddressesInSubnet",
    };

    /// <summary>Refusals that do not depend on capacity: that type, zone and market will not work however long one waits.</summary>
    public static readonly HashSet<string> NeverHere = new(StringComparer.Ordinal) { "Unsupported", "SpotMaxPriceTooLow" };

    /// <summary>EC2 is throttling or failing for a moment (after the SDK's own retries): the next round asks again.</summary>
    public static readonly HashSet<string> TryLater = new(StringComparer.Ordinal) { "RequestLimitExceeded", "ServiceUnavailable", "InternalError", "Unavailable" };

    /// <summary>The credentials may not do what was asked (an IAM policy); the message is encoded (sts:DecodeAuthorizationMessage).</summary>
    public const string UnauthorizedOperation = "UnauthorizedOperation";

    /// <summary>The account's running vCPUs of an instance family bucket would pass its quota (on-demand).</summary>
    public const string VcpuLimitExceeded = "VcpuLimitExceeded";

    /// <summary>The account's spot quota (vCPUs or instances) is reached.</summary>
    public const string MaxSpotInstanceCountExceeded = "MaxSpotInstanceCountExceeded";

    public const string InstanceNotFound = "InvalidInstanceID.NotFound";
    public const string GroupNotFound = "InvalidGroup.NotFound";
    public const string DependencyViolation = "DependencyViolation";
}
