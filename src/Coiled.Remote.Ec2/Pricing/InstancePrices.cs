namespace Coiled.Remote.Ec2;

/// <summary>
/// What an instance of a cluster costs in US East (N. Virginia), US dollars: on-demand prices of common Linux instance
/// types per hour, its public IPv4 address per hour, and its gp3 root volume per GB-month.
/// </summary>
/// <remarks>
/// Source: the AWS on-demand price list (https://aws.amazon.com/ec2/pricing/on-demand/), as quoted by public price
/// tables read in April–October 2026 (c7i.large 0.08925 was read from the AWS Price List API on 2026-10-05; t3.medium
/// 0.0416 and m7g.large 0.0816 from a calculator reviewed 2026-04-17 and June 2026). Within a family EC2 prices are
/// linear in the size (xlarge = 2 × large, medium = ½ × large), which gives the other sizes. Other regions differ by
/// a few percent to a third; costs reported from this table are us-east-1 estimates.
/// Public IPv4: $0.005 per address-hour, in use or idle, effective 2024-02-01 (https://aws.amazon.com/vpc/pricing/).
/// EBS: gp3 $0.08 per GB-month in us-east-1 (https://aws.amazon.com/ebs/pricing/), billed per second for a 730-hour
/// month. The README ("What it costs") says how to refresh this table.
/// </remarks>
internal static class InstancePrices
{
    public const string Source =
        "AWS price lists, us-east-1: EC2 on-demand Linux read 2026-10-05; public IPv4 $0.005/h effective 2024-02-01 (VPC pricing); EBS gp3 $0.08/GB-month (EBS pricing)";

    /// <summary>A public IPv4 address, per hour (AWS VPC pricing, effective 2024-02-01).</summary>
    public const decimal PublicIpv4Hourly = 0.005m;

    /// <summary>A gp3 volume, per GB-month in us-east-1 (AWS EBS pricing).</summary>
    public const decimal Gp3GbMonth = 0.08m;

    /// <summary>The hours of a month, as AWS prorates monthly prices.</summary>
    public const decimal HoursPerMonth = 730m;

    private static readonly Dictionary<string, decimal> LargePrice = new(StringComparer.OrdinalIgnoreCase)
    {
        ["c7i"] = 0.08925m,
        ["c7g"] = 0.0725m,
        ["m7i"] = 0.1008m,
        ["m7g"] = 0.0816m,
        ["t3"] = 0.0832m,
    };

    private static readonly Dictionary<string, decimal> SizeFactor = new(StringComparer.OrdinalIgnoreCase)
    {
        ["nano"] = 1m / 16,
        ["micro"] = 1m / 8,
        ["small"] = 1m / 4,
        ["medium"] = 1m / 2,
        ["large"] = 1m,
        ["xlarge"] = 2m,
        ["2xlarge"] = 4m,
        ["4xlarge"] = 8m,
        ["8xlarge"] = 16m,
        ["12xlarge"] = 24m,
        ["16xlarge"] = 32m,
        ["24xlarge"] = 48m,
        ["48xlarge"] = 96m,
    };

    /// <summary>The on-demand price per hour, or null for a type this table does not know.</summary>
    public static decimal? OnDemandHourly(string instanceType)
    {
        var parts = instanceType.Split('.');
        return parts.Length == 2 && LargePrice.TryGetValue(parts[0], out var large) && SizeFactor.TryGetValue(parts[1], out var factor)
            ? large * factor
            : null;
    }

    /// <summary>
    /// What one instance costs for <paramref name="running"/>: EC2 bills Linux instances per second with a one-minute
    /// minimum.
    /// </summary>
    public static decimal For(decimal hourly, TimeSpan running)
        => hourly * (decimal)BilledSeconds(running) / 3600m;

    /// <summary>What a public IPv4 address costs for <paramref name="held"/>, per second.</summary>
    public static decimal PublicIpv4For(TimeSpan held) => PublicIpv4Hourly * Hours(held);

    /// <summary>What a gp3 volume of <paramref name="gib"/> GiB costs for <paramref name="held"/>, per second of a 730-hour month.</summary>
    public static decimal EbsFor(int gib, TimeSpan held) => gib * Gp3GbMonth * Hours(held) / HoursPerMonth;

    /// <summary>
    /// What one instance costs, all told, for <paramref name="running"/>: its hours at <paramref name="hourly"/> (null
    /// when unknown), its public IPv4 address if it has one, and its root volume of <paramref name="rootVolumeGiB"/>.
    /// </summary>
    public static Ec2CostBreakdown Breakdown(decimal? hourly, TimeSpan running, int rootVolumeGiB, bool publicAddress = true)
        => new(hourly is { } price ? For(price, running) : null, publicAddress ? PublicIpv4For(running) : 0m, EbsFor(rootVolumeGiB, running));

    /// <summary>
    /// What one instance costs per hour, all told: <paramref name="hourly"/> (null when unknown, and then so is the
    /// answer), its public IPv4 address if it has one, and its root volume of <paramref name="rootVolumeGiB"/>.
    /// </summary>
    public static decimal? HourlyAllTold(decimal? hourly, int rootVolumeGiB, bool publicAddress = true)
        => hourly is { } price ? price + (publicAddress ? PublicIpv4Hourly : 0m) + (rootVolumeGiB * Gp3GbMonth / HoursPerMonth) : null;

    /// <summary>The seconds EC2 bills an instance for <paramref name="running"/>: per second, at least one minute.</summary>
    public static double BilledSeconds(TimeSpan running) => Math.Max(60, running.TotalSeconds);

    private static decimal Hours(TimeSpan span) => (decimal)Math.Max(0, span.TotalSeconds) / 3600m;
}
