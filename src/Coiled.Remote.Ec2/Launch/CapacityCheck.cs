using System.Globalization;
using System.Text.RegularExpressions;
using Amazon.EC2;
using Amazon.EC2.Model;

namespace Coiled.Remote.Ec2;

/// <summary>
/// What EC2 capacity a start needs, checked and explained before anything is billed: the instance type must be offered
/// in the cluster's zone, and a launch refused for the account's vCPU quota says how many vCPUs the quota allows and how
/// many the cluster needs. (EC2 refuses such a launch whole: no instance starts.)
/// </summary>
internal static partial class CapacityCheck
{
    /// <summary>
    /// The pairs of <paramref name="types"/> and <paramref name="subnets"/> whose zone offers the type; fails saying
    /// where each type is offered when no pair is.
    /// </summary>
    public static async Task<IReadOnlyList<(string Type, string SubnetId, string Zone)>> OfferedAsync(
        IAmazonEC2 client, IReadOnlyList<string> types, IReadOnlyList<(string SubnetId, string Zone)> subnets, string region, CancellationToken cancellationToken)
    {
        var offered = new List<(string, string, string)>();
        var refusals = new List<ClusterStartException>();
        foreach (var type in types)
        {
            var zones = await ZonesOfferingAsync(client, type, cancellationToken).ConfigureAwait(false);
            var here = subnets.Where(s => zones.Contains(s.Zone)).ToList();
            offered.AddRange(here.Select(s => (type, s.SubnetId, s.Zone)));
            if (here.Count == 0)
            {
                refusals.Add(NotOffered(type, [.. subnets.Select(s => s.Zone).Distinct()], zones, region));
            }
        }

        return offered.Count > 0 ? offered
            : refusals.Count == 1 ? throw refusals[0]
            : throw new ClusterStartException(string.Join(Environment.NewLine, refusals.Select(r => r.Message)));
    }

    private static async Task<SortedSet<string>> ZonesOfferingAsync(IAmazonEC2 client, string instanceType, CancellationToken cancellationToken)
    {
        var zones = new SortedSet<string>(StringComparer.Ordinal);
        string? next = null;
        do
        {
            var page = await client.DescribeInstanceTypeOfferingsAsync(new DescribeInstanceTypeOfferingsRequest
            {
                LocationType = LocationType.AvailabilityZone,
                Filters = [new Filter("instance-type", [instanceType])],
                NextToken = next,
            }, cancellationToken).ConfigureAwait(false);
            zones.UnionWith((page.InstanceTypeOfferings ?? []).Select(o => o.Location));
            next = page.NextToken;
        }
        while (!string.IsNullOrEmpty(next));
        return zones;
    }

    private static ClusterStartException NotOffered(string instanceType, IReadOnlyList<string> subnetZones, SortedSet<string> zones, string region)
        => new(zones.Count == 0
            ? $"The instance type {instanceType} is not offered in {region}: a misspelt type, or one this region does not have. Nothing was started. " +
              $"Set Ec2Options.InstanceType (or InstanceTypes) to a type of the region (`aws ec2 describe-instance-type-offerings --region {region}` lists them)."
            : $"The instance type {instanceType} is not offered in {string.Join(", ", subnetZones)}, the zone(s) of the cluster's subnets; {region} offers it in {string.Join(", ", zones)}. " +
              "Nothing was started. Set Ec2Options.SubnetId (or SubnetIds) to a subnet in one of those zones, or choose another instance type.");

    /// <summary>
    /// The clear form of a launch EC2 refused for the account's vCPU quota: the quota, what the cluster needs, and how
    /// to get more. <paramref name="refusal"/> is EC2's <c>VcpuLimitExceeded</c>.
    /// </summary>
    public static async Task<ClusterStartException> QuotaExceededAsync(
        IAmazonEC2 client, AmazonEC2Exception refusal, string instanceType, int count, string region, CancellationToken cancellationToken)
    {
        var vcpus = await VcpusOfAsync(client, instanceType, cancellationToken).ConfigureAwait(false);
        var limit = QuotaInMessage().Match(refusal.Message);
        var family = FamilyBucket(instanceType);
        var quota = limit.Success ? $"Quota {limit.Groups[1].Value} vCPU for {family} instances" : $"The account's vCPU quota for {family} instances is too small";
        var need = vcpus is { } each
            ? $"this cluster needs {(count * each).ToString(CultureInfo.InvariantCulture)} ({count} x {instanceType} of {each} vCPU), besides the account's running instances"
            : $"this cluster needs {count} x {instanceType}";
        var needed = vcpus is { } n ? count * n : (int?)null;
        return new ClusterStartException(
            $"{quota}; {need}. EC2 launched nothing, so nothing is billed. Start fewer workers or a smaller type, stop other instances, " +
            $"or ask AWS for more: {HowToAsk(region, $"Running On-Demand {family} instances", OnDemandQuotaCode(family), needed)}. EC2 said: {refusal.Message}",
            refusal);
    }

    /// <summary>The clear form of a spot launch refused for the account's spot quota (<c>MaxSpotInstanceCountExceeded</c>).</summary>
    public static ClusterStartException SpotQuotaExceeded(AmazonEC2Exception refusal, string instanceType, int count, string region)
    {
        var family = FamilyBucket(instanceType);
        return new(
            $"The account's spot quota for {family} instances is reached; this cluster asked for {count} x {instanceType} (spot) more, and on-demand capacity did not make up for it. " +
            $"EC2 launched nothing, so nothing is billed. Start on-demand workers (Ec2Options.Spot = false), or ask AWS for more: " +
            $"{HowToAsk(region, $"All {family} Spot Instance Requests", SpotQuotaCode(family), null)}. EC2 said: {refusal.Message}",
            refusal);
    }

    /// <summary>Where and how to ask for more of a quota: its page in the Service Quotas console, and the CLI command when its code is known.</summary>
    internal static string HowToAsk(string region, string quotaName, string? quotaCode, int? vcpus)
        => quotaCode is null
            ? $"the quota '{quotaName}' at https://{region}.console.aws.amazon.com/servicequotas/home/services/ec2/quotas"
            : $"the quota '{quotaName}' ({quotaCode}) at https://{region}.console.aws.amazon.com/servicequotas/home/services/ec2/quotas/{quotaCode}, " +
              $"or `aws service-quotas request-service-quota-increase --region {region} --service-code ec2 --quota-code {quotaCode} --desired-value {(vcpus?.ToString(CultureInfo.InvariantCulture) ?? "VCPUS")}` " +
              "(the desired value counts vCPUs of all running instances of the family)";

    /// <summary>The Service Quotas code of the on-demand vCPU quota of a bucket (<see cref="FamilyBucket"/>); null where it is not listed here.</summary>
    internal static string? OnDemandQuotaCode(string bucket) => bucket switch
    {
        "Standard (A, C, D, H, I, M, R, T, Z)" => "L-1216C47A",
        "G and VT" => "L-DB2E81BA",
        "P" => "L-417A185B",
        _ => null,
    };

    /// <summary>The Service Quotas code of the spot vCPU quota of a bucket (<see cref="FamilyBucket"/>); null where it is not listed here.</summary>
    internal static string? SpotQuotaCode(string bucket) => bucket switch
    {
        "Standard (A, C, D, H, I, M, R, T, Z)" => "L-34B43A08",
        "G and VT" => "L-3819A6DF",
        "P" => "L-7212CCBC",
        _ => null,
    };

    /// <summary>EC2's vCPU quota bucket of an instance type, from its family: Standard covers A, C, D, H, I, M, R, T and Z.</summary>
    public static string FamilyBucket(string instanceType)
    {
        var family = instanceType.Split('.')[0].ToLowerInvariant();
        return family switch
        {
            _ when family.StartsWith("inf", StringComparison.Ordinal) => "Inf",
            _ when family.StartsWith("trn", StringComparison.Ordinal) => "Trn",
            _ when family.StartsWith("dl", StringComparison.Ordinal) => "DL",
            _ when family.StartsWith("hpc", StringComparison.Ordinal) => "HPC",
            _ when family.StartsWith("vt", StringComparison.Ordinal) || family.StartsWith('g') => "G and VT",
            _ when family.StartsWith('p') => "P",
            _ when family.StartsWith('f') => "F",
            _ when family.StartsWith('x') => "X",
            _ when family.StartsWith('u') => "High Memory",
            _ => "Standard (A, C, D, H, I, M, R, T, Z)",
        };
    }

    private static async Task<int?> VcpusOfAsync(IAmazonEC2 client, string instanceType, CancellationToken cancellationToken)
    {
        try
        {
            var described = await client.DescribeInstanceTypesAsync(new DescribeInstanceTypesRequest { InstanceTypes = [instanceType] }, cancellationToken).ConfigureAwait(false);
            return described.InstanceTypes?.FirstOrDefault()?.VCpuInfo?.DefaultVCpus;
        }
        catch (AmazonEC2Exception)
        {
            return null;
        }
    }

    [GeneratedRegex(@"vCPU limit of (\d+)")]
    private static partial Regex QuotaInMessage();
}
