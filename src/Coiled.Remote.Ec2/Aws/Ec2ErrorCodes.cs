namespace Coiled.Remote.Ec2;

/// <summary>EC2 error codes the backend reacts to.</summary>
internal static class Ec2ErrorCodes
{
    /// <summary>
    /// Spot requests that may succeed on-demand: AWS ParallelCluster's fast-failover list plus UnfulfillableCapacity and
    /// InsufficientCapacity.
    /// </summary>
    public static readonly HashSet<string> SpotFallback = new(StringComparer.Ordinal)
    {
        "InsufficientInstanceCapacity",
        "InsufficientHostCapacity",
        "InsufficientReservedInstanceCapacity",
        "MaxSpotInstanceCountExceeded",
        "Unsupported",
        "SpotMaxPriceTooLow",
        "UnfulfillableCapacity",
        "InsufficientCapacity",
    };

    public const string InstanceNotFound = "InvalidInstanceID.NotFound";
    public const string GroupNotFound = "InvalidGroup.NotFound";
    public const string DependencyViolation = "DependencyViolation";
}
