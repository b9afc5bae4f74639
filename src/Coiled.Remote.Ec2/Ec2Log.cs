using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Ec2;

// Event ids by area: worker daemon 1000-1099, executors 1100-1199, EC2 2000-2999 (this file: backend 2000-2099,
// launch 2100-2199, teardown 2200-2299, cleanup 2300-2399), synchronization 3000-3099, backends 3100-3199,
// scheduler 4000-4099, cluster 4100-4199.

/// <summary>The EC2 backend's log lines: starting, launching, booting, tearing down and cleaning up clusters (event ids 2000-2999).</summary>
internal static partial class Ec2Log
{
    [LoggerMessage(EventId = 2000, Level = LogLevel.Warning, Message = "Starting EC2 cluster {Cluster} failed ({Reason}); removing what it created")]
    public static partial void StartFailed(this ILogger logger, string cluster, string reason);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Left the {Count} instance(s) of named cluster {Name} ({Cluster}) running for its next start: {Ids}; each powers itself off after {KeepAlive} without a client")]
    public static partial void InstancesKept(this ILogger logger, int count, string name, string cluster, string ids, TimeSpan keepAlive);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Named cluster {Name} ({Cluster}) in {Region}: {Running} of its {Registered} instance(s) run: {Ids}")]
    public static partial void InstancesAdopted(this ILogger logger, string name, string cluster, string region, int running, int registered, string ids);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Named cluster {Name} runs on {Types}; this start asks for {Asked}: it attaches to those instances, and any it adds are {Asked}")]
    public static partial void KeptTypeDiffers(this ILogger logger, string name, string types, string asked);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "Named cluster {Name} ({Cluster}): its instances power themselves off at {Expires:u} (Ec2Options.MaxLifetime), too soon to use or add to; starting a new cluster of the name instead")]
    public static partial void KeptClusterEnding(this ILogger logger, string name, string cluster, DateTimeOffset expires);

    [LoggerMessage(EventId = 2100, Level = LogLevel.Information, Message = "No price is known for {Type}; Cluster.Cost stays unknown")]
    public static partial void NoPriceKnown(this ILogger logger, string type);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "Created security group {Group} ({Name}) in {Vpc}, admitting {Cidr} on port {Port}")]
    public static partial void SecurityGroupCreated(this ILogger logger, string group, string name, string vpc, string cidr, int port);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Information, Message = "EC2 has no capacity for {Candidate} ({Code}: {Message}); trying elsewhere")]
    public static partial void NoCapacity(this ILogger logger, string candidate, string code, string message);

    [LoggerMessage(EventId = 2105, Level = LogLevel.Warning, Message = "EC2 had capacity for {Launched} of the {Count} instance(s) of {Cluster}; asking again every {Seconds:0} s for up to {Timeout:0} s")]
    public static partial void PartialCapacity(this ILogger logger, int launched, int count, string cluster, double seconds, double timeout);

    [LoggerMessage(EventId = 2106, Level = LogLevel.Warning, Message = "Cluster {Cluster} starts with {Launched} of the {Count} instance(s) asked for (minimum {Minimum}): {Why}")]
    public static partial void StartingWithFewer(this ILogger logger, string cluster, int launched, int count, int minimum, string why);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Information, Message = "Launched {Count} x {Type} ({Market}) in {Zone} from {Image}: {Ids}; waiting for them to boot")]
    public static partial void Launched(this ILogger logger, int count, string type, string market, string zone, string image, string ids);

    [LoggerMessage(EventId = 2104, Level = LogLevel.Information, Message = "Could not read the spot price of {Type} in {Zone} ({Message}); costs use the on-demand price")]
    public static partial void SpotPriceUnknown(this ILogger logger, string type, string zone, string message);

    [LoggerMessage(EventId = 2107, Level = LogLevel.Warning, Message = "RunInstances failed ({Code}) after it launched {Count} instance(s) (client token {ClientToken}); the cluster takes them")]
    public static partial void LaunchFoundAfterError(this ILogger logger, string code, int count, string clientToken);

    [LoggerMessage(EventId = 2110, Level = LogLevel.Information, Message = "Worker on {Instance} is up at {Endpoint} ({Ready}/{Count})")]
    public static partial void WorkerUp(this ILogger logger, string instance, Uri endpoint, int ready, int count);

    [LoggerMessage(EventId = 2111, Level = LogLevel.Information, Message = "All {Count} EC2 worker(s) of {Cluster} are up after {Seconds:0} s")]
    public static partial void AllWorkersUp(this ILogger logger, int count, string cluster, double seconds);

    [LoggerMessage(EventId = 2112, Level = LogLevel.Warning, Message =
        "Terminating {Count} EC2 instance(s) of {Cluster} whose worker did not come: {Ids}; the cluster goes on with {Ready} of {Requested} worker(s)")]
    public static partial void TerminatingLate(this ILogger logger, int count, string cluster, string ids, int ready, int requested);

    [LoggerMessage(EventId = 2113, Level = LogLevel.Warning, Message = "Could not terminate {Ids} now; disposing the cluster terminates them")]
    public static partial void TerminateLateFailed(this ILogger logger, Exception exception, string ids);

    [LoggerMessage(EventId = 2114, Level = LogLevel.Information, Message = "Terminating EC2 instance {Instance} of {Cluster}: its worker at {Address} ended ({Reason})")]
    public static partial void TerminatingEndedWorker(this ILogger logger, string instance, string cluster, Uri address, string reason);

    [LoggerMessage(EventId = 2200, Level = LogLevel.Error, Message = "{Message}")]
    public static partial void TeardownIncomplete(this ILogger logger, Exception exception, string message);

    [LoggerMessage(EventId = 2201, Level = LogLevel.Information, Message = "{Summary}")]
    public static partial void CostSummary(this ILogger logger, string summary);

    [LoggerMessage(EventId = 2202, Level = LogLevel.Error, Message = "Could not terminate {Ids} as the process exited")]
    public static partial void TerminateAtExitFailed(this ILogger logger, Exception exception, string ids);

    [LoggerMessage(EventId = 2203, Level = LogLevel.Information, Message = "No instance of cluster {Cluster} carries client token {ClientToken} after {Seconds:0} s: that unanswered launch started nothing")]
    public static partial void UnansweredLaunchFoundNothing(this ILogger logger, string cluster, string clientToken, double seconds);

    [LoggerMessage(EventId = 2209, Level = LogLevel.Information, Message = "Looking for the instances of {Count} launch(es) of {Cluster} that EC2 never answered, for up to {Seconds:0} s")]
    public static partial void FindingUnansweredLaunches(this ILogger logger, int count, string cluster, double seconds);

    [LoggerMessage(EventId = 2204, Level = LogLevel.Information, Message = "Terminating {Count} EC2 instance(s) of {Cluster} ({Reason}): {Ids}")]
    public static partial void Terminating(this ILogger logger, int count, string cluster, string reason, string ids);

    [LoggerMessage(EventId = 2205, Level = LogLevel.Information, Message = "All {Count} EC2 instance(s) of {Cluster} are terminated")]
    public static partial void AllTerminated(this ILogger logger, int count, string cluster);

    [LoggerMessage(EventId = 2206, Level = LogLevel.Information, Message = "Deleted security group {Group} of {Cluster}")]
    public static partial void SecurityGroupDeleted(this ILogger logger, string group, string cluster);

    [LoggerMessage(EventId = 2210, Level = LogLevel.Debug, Message = "Security group {Group} is still in use ({Message}); retrying in {Delay}")]
    public static partial void SecurityGroupInUse(this ILogger logger, string group, string message, TimeSpan delay);

    [LoggerMessage(EventId = 2300, Level = LogLevel.Information, Message = "Removing cluster {Cluster} ({Reason}): instances {Instances}; security groups {Groups}")]
    public static partial void RemovingCluster(this ILogger logger, string cluster, string reason, string instances, string groups);

    [LoggerMessage(EventId = 2301, Level = LogLevel.Information, Message = "Terminated {Instance}")]
    public static partial void InstanceTerminated(this ILogger logger, string instance);

    [LoggerMessage(EventId = 2302, Level = LogLevel.Information, Message = "Kept cluster {Cluster} of {Owner} in {Region}: {Why}")]
    public static partial void KeptCluster(this ILogger logger, string cluster, string? owner, string region, string why);

    [LoggerMessage(EventId = 2400, Level = LogLevel.Information, Message = "Created the staging bucket {Bucket} in {Region}: private, encrypted, objects expire after {Days} day(s)")]
    public static partial void StagingBucketCreated(this ILogger logger, string bucket, string region, int days);

    [LoggerMessage(EventId = 2401, Level = LogLevel.Debug, Message = "Staged {Key} ({Bytes} bytes) in {Bucket}")]
    public static partial void Staged(this ILogger logger, string key, long bytes, string bucket);

    [LoggerMessage(EventId = 2402, Level = LogLevel.Debug, Message = "{Key} ({Bytes} bytes) is already staged")]
    public static partial void AlreadyStaged(this ILogger logger, string key, long bytes);

    [LoggerMessage(EventId = 2403, Level = LogLevel.Debug, Message = "Deleted the boot secrets of cluster {Cluster}: {Reason}")]
    public static partial void BootSecretsDeleted(this ILogger logger, string cluster, string reason);

    [LoggerMessage(EventId = 2405, Level = LogLevel.Information, Message = "Removed the staging bucket {Bucket} and its {Objects} object(s), {Bytes} bytes")]
    public static partial void StagingBucketRemoved(this ILogger logger, string bucket, int objects, long bytes);

    [LoggerMessage(EventId = 2406, Level = LogLevel.Information, Message = "Deleted {Count} boot secrets object(s) of cluster {Cluster} from {Bucket}")]
    public static partial void StaleBootSecretsDeleted(this ILogger logger, int count, string cluster, string bucket);

    [LoggerMessage(EventId = 2404, Level = LogLevel.Warning, Message = "Could not delete the boot secrets of cluster {Cluster} (s3://{Bucket}/{Key}); the bucket's expiry removes them within a day, and their address expires with the boot")]
    public static partial void BootSecretsNotDeleted(this ILogger logger, Exception exception, string cluster, string bucket, string key);
}
