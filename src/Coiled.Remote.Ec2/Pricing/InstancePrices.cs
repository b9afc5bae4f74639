namespace Coiled.Remote.Ec2;

/// <summary>
/// On-demand prices of common instance types: US East (N. Virginia), Linux, US dollars per hour.
/// </summary>
/// <remarks>
/// Source: the AWS on-demand price list (https://aws.amazon.com/ec2/pricing/on-demand/), as quoted by public price
/// tables read in April–October 2026 (c7i.large 0.08925 was read from the AWS Price List API on 2026-10-05; t3.medium
/// 0.0416 and m7g.large 0.0816 from a calculator reviewed 2026-04-17 and June 2026). Within a family EC2 prices are
/// linear in the size (xlarge = 2 × large, medium = ½ × large), which gives the other sizes. Other regions differ by
/// a few percent to a third; costs reported from this table are estimates, written with "≈".
/// </remarks>
internal static class InstancePrices
{
    public const string Source = "AWS on-demand price list, us-east-1 Linux, read 2026-10-05";

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
        => hourly * (decimal)Math.Max(60, running.TotalSeconds) / 3600m;
}
