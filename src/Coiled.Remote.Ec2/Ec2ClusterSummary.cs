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
/// <param name="Cost">What its instances have cost so far at on-demand prices (an estimate); null when a price is unknown.</param>
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
    string? StaleReason);
