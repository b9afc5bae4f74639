using System.Globalization;

namespace Coiled.Remote.Ec2;

/// <summary>How costs and durations read in the log line a cluster writes when it closes and in <c>coiled-remote ec2 ls</c>.</summary>
internal static class CostText
{
    /// <summary>
    /// E.g. <c>4 x c7i.large (spot) for 6m12s: instances $0.021 + public IPv4 $0.002 + EBS $0.001 = $0.024</c>, or
    /// <c>3 x c7i.large (spot) + 1 x m7i.large (on-demand) for ...</c>. A group of unknown market (instances found by
    /// tag) has no market; instances of unknown price make the total unknown.
    /// </summary>
    public static string CostSummary(IReadOnlyList<(int Count, string InstanceType, bool? Spot, bool PriceKnown)> groups, TimeSpan duration, Ec2CostBreakdown cost)
    {
        var instances = string.Join(" + ", groups.Select(g => $"{g.Count} x {g.InstanceType}{g.Spot switch { true => " (spot)", false => " (on-demand)", null => string.Empty }}"));
        var unpriced = groups.Where(g => !g.PriceKnown).Select(g => g.InstanceType).Distinct(StringComparer.Ordinal);
        var hours = cost.Instances is { } known ? "instances " + Dollars(known) : $"instances: price unknown for {string.Join(", ", unpriced)}";
        var total = cost.Total is { } sum ? Dollars(sum) : "total unknown";
        return $"{instances} for {FormatDuration(duration)}: {hours} + public IPv4 {Dollars(cost.PublicIpv4)} + EBS {Dollars(cost.Ebs)} = {total}";
    }

    /// <summary>E.g. <c>$0.024</c>: to a tenth of a cent, half away from zero.</summary>
    public static string Dollars(decimal amount)
        => "$" + Math.Round(amount, 3, MidpointRounding.AwayFromZero).ToString("0.000", CultureInfo.InvariantCulture);

    /// <summary>E.g. <c>42s</c>, <c>6m12s</c>, <c>3h05m</c>.</summary>
    public static string FormatDuration(TimeSpan duration)
    {
        var seconds = (long)Math.Max(0, Math.Round(duration.TotalSeconds));
        return seconds switch
        {
            < 60 => $"{seconds}s",
            < 3600 => $"{seconds / 60}m{seconds % 60:00}s",
            _ => $"{seconds / 3600}h{seconds / 60 % 60:00}m",
        };
    }
}
