namespace Coiled.Remote.Ec2;

/// <summary>One Coiled.Remote cluster found in an AWS region by its tags.</summary>
/// <param name="Name">The cluster's name (tag <c>coiled-remote:cluster</c>).</param>
/// <param name="Owner">Who started it: <c>user@host:pid</c> (tag <c>coiled-remote:owner</c>).</param>
/// <param name="Expires">When its lifetime ends (tag <c>coiled-remote:expires</c>).</param>
/// <param name="InstanceIds">Its instances that are not terminated.</param>
/// <param name="InstanceTypes">Their instance types.</param>
/// <param name="SecurityGroupIds">Its security groups.</param>
/// <param name="LaunchedAt">When its first instance was launched; null without instances.</param>
/// <param name="Uptime">How long since then.</param>
/// <param name="Cost">
/// What it has cost so far, a us-east-1 estimate: instance hours (spot instances at their zone's spot price), public IPv4
/// addresses and root volumes (see <see cref="CostBreakdown"/>); null when an instance type's price is unknown.
/// </param>
/// <param name="StaleReason">Why cleanup would remove it (expired, owner gone), or null when it looks in use.</param>
public sealed record Ec2ClusterSummary(
    string Name,
    string? Owner,
    DateTimeOffset? Expires,
    IReadOnlyList<string> InstanceIds,
    IReadOnlyList<string> InstanceTypes,
    IReadOnlyList<string> SecurityGroupIds,
    DateTimeOffset? LaunchedAt,
    TimeSpan Uptime,
    decimal? Cost,
    string? StaleReason)
{
    /// <summary>
    /// <see cref="Cost"/> by what AWS bills for; root volumes count at 8 GiB, the Amazon Linux 2023 size, since
    /// DescribeInstances does not show their size. Null when not computed.
    /// </summary>
    public Ec2CostBreakdown? CostBreakdown { get; init; }

    /// <summary>What the cost could not take into account, e.g. a spot price EC2 did not tell, charged at the on-demand price; else null.</summary>
    public string? CostNote { get; init; }

    /// <summary>
    /// The <c>ClusterOptions.Name</c> of a named cluster whose instances outlive their client (tag <c>coiled-remote:kept-as</c>);
    /// null for a cluster that ends with its client. Cleanup leaves a kept cluster while its instances run.
    /// </summary>
    public string? KeptAs { get; init; }
}
