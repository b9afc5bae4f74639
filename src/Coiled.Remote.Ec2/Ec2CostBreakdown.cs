namespace Coiled.Remote.Ec2;

/// <summary>
/// What a cluster's instances cost, in US dollars, by what AWS bills for: the instance hours, their public IPv4
/// addresses, and their root EBS volumes. Prices are us-east-1 estimates from a built-in table.
/// </summary>
/// <param name="Instances">The instance hours, spot instances at their zone's spot price; null when an instance type's price is unknown.</param>
/// <param name="PublicIpv4">The public IPv4 addresses, one per instance, at $0.005 per address-hour.</param>
/// <param name="Ebs">The root volumes, gp3 at $0.08 per GB-month (of 730 hours).</param>
public sealed record Ec2CostBreakdown(decimal? Instances, decimal PublicIpv4, decimal Ebs)
{
    /// <summary>No cost at all.</summary>
    internal static Ec2CostBreakdown Zero { get; } = new(0m, 0m, 0m);

    /// <summary>The whole cost; null when the instances' price is unknown.</summary>
    public decimal? Total => Instances + PublicIpv4 + Ebs;

    /// <summary>The cost of both; instances unknown in either are unknown in the sum.</summary>
    internal Ec2CostBreakdown Plus(Ec2CostBreakdown other)
        => new(Instances + other.Instances, PublicIpv4 + other.PublicIpv4, Ebs + other.Ebs);
}
