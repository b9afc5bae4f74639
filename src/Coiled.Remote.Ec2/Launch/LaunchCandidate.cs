namespace Coiled.Remote.Ec2;

/// <summary>One place a cluster's instances can be launched: an instance type in a subnet (of a zone that offers it), spot or on-demand.</summary>
internal sealed record LaunchCandidate(string InstanceType, string SubnetId, string Zone, bool Spot)
{
    public string Market => Spot ? "spot" : "on-demand";

    public override string ToString() => $"{InstanceType} {Market} in {Zone} ({SubnetId})";

    /// <summary>
    /// The order to try <paramref name="candidates"/> in: spot anywhere before on-demand anywhere (spot costs a fraction
    /// of on-demand, far more than traffic between zones costs); in each market the zone of the instances launched so
    /// far first (traffic between zones is billed), then the others; in each zone the types in the user's order.
    /// </summary>
    public static IEnumerable<LaunchCandidate> InOrder(IReadOnlyList<LaunchCandidate> candidates, string? zone, IReadOnlyList<string> types)
        => candidates
            .OrderBy(c => c.Spot ? 0 : 1)
            .ThenBy(c => c.Zone == zone ? 0 : 1)
            .ThenBy(c => c.Zone, StringComparer.Ordinal)
            .ThenBy(c => IndexOf(types, c.InstanceType))
            .ThenBy(c => c.SubnetId, StringComparer.Ordinal);

    private static int IndexOf(IReadOnlyList<string> types, string type)
    {
        for (var i = 0; i < types.Count; i++)
        {
            if (types[i] == type)
            {
                return i;
            }
        }

        return types.Count;
    }
}
