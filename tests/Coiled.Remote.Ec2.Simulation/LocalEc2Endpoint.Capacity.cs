using System.Globalization;
using System.Xml.Linq;

namespace Coiled.Remote.Ec2.Simulation;

// The local EC2 endpoint's capacity: which instance types each zone offers, their vCPUs, and the account's vCPU quota.
public sealed partial class LocalEc2Endpoint
{
    /// <summary>vCPUs of the instance types the endpoint knows; every zone offers them unless <see cref="NotOffered"/> says otherwise.</summary>
    public Dictionary<string, int> InstanceTypeVcpus { get; } = new(StringComparer.Ordinal)
    {
        ["c7i.large"] = 2,
        ["c7g.large"] = 2,
        ["m7i.large"] = 2,
        ["t3.medium"] = 2,
        ["c7i.4xlarge"] = 16,
        ["g5.xlarge"] = 4,
        ["p5.48xlarge"] = 192,
    };

    /// <summary>
    /// Instances EC2 still has capacity for, as "type@zone" (spot and on-demand alike); unlimited where absent. A launch
    /// gets what is left between its MinCount and MaxCount, or InsufficientInstanceCapacity when less than MinCount is.
    /// </summary>
    public Dictionary<string, int> Capacity { get; } = new(StringComparer.Ordinal);

    /// <summary>Sets what <see cref="Capacity"/> holds for "type@zone" while the endpoint may be answering launches.</summary>
    public void SetCapacity(string typeAtZone, int instances)
    {
        lock (_lock)
        {
            Capacity[typeAtZone] = instances;
        }
    }

    /// <summary>The account's quota of running spot instances; null for none.</summary>
    public int? MaxSpotInstances { get; set; }

    /// <summary>Zones that do not offer an instance type, as "type@zone".</summary>
    public HashSet<string> NotOffered { get; } = new(StringComparer.Ordinal);

    /// <summary>The account's quota of running Standard vCPUs; null for none.</summary>
    public int? StandardVcpuQuota { get; set; }

    private IEnumerable<string> Zones => Subnets.Select(s => s.Zone).Distinct().Order(StringComparer.Ordinal);

    private XElement DescribeInstanceTypeOfferings(Ec2Call call)
    {
        if (call["LocationType"] != "availability-zone")
        {
            throw new Ec2Error("InvalidParameterValue", "The local EC2 endpoint answers LocationType availability-zone only");
        }

        var offerings = InstanceTypeVcpus.Keys.SelectMany(type => Zones.Select(zone => (Type: type, Zone: zone)))
            .Where(o => !NotOffered.Contains($"{o.Type}@{o.Zone}") && Matches(call, f => f switch
            {
                "instance-type" => [o.Type],
                "location" => [o.Zone],
                _ => null,
            })).ToList();
        return Response("DescribeInstanceTypeOfferings", Set("instanceTypeOfferingSet", offerings.Select(o => new XElement("x",
            E("instanceType", o.Type), E("locationType", "availability-zone"), E("location", o.Zone)))));
    }

    private XElement DescribeInstanceTypes(Ec2Call call)
    {
        var types = call.List("InstanceType").Where(InstanceTypeVcpus.ContainsKey).ToList();
        return Response("DescribeInstanceTypes", Set("instanceTypeSet", types.Select(t => new XElement("x",
            E("instanceType", t), E("vCpuInfo", new object[] { E("defaultVCpus", InstanceTypeVcpus[t]) })))));
    }

    /// <summary>How many of MinCount to MaxCount instances EC2 launches, taken from <see cref="Capacity"/> and the spot quota; refuses as EC2 does.</summary>
    private int TakeCapacity(string instanceType, string zone, bool spot, int minimum, int maximum)
    {
        var key = $"{instanceType}@{zone}";
        var available = Capacity.TryGetValue(key, out var left) ? left : int.MaxValue;
        if (spot && MaxSpotInstances is { } spotQuota)
        {
            var running = _instances.Values.Count(i => i.Spot && i.State is "pending" or "running");
            if (running + minimum > spotQuota)
            {
                throw new Ec2Error("MaxSpotInstanceCountExceeded", "Max spot instance count exceeded");
            }

            available = Math.Min(available, spotQuota - running);
        }

        if (available < minimum)
        {
            throw new Ec2Error(
                "InsufficientInstanceCapacity",
                $"We currently do not have sufficient {instanceType} capacity in the Availability Zone you requested ({zone}). Our system will be working on provisioning additional capacity.");
        }

        var launched = Math.Min(available, maximum);
        if (Capacity.ContainsKey(key))
        {
            Capacity[key] -= launched;
        }

        return launched;
    }

    /// <summary>Refuses a launch that would take the running Standard vCPUs past <see cref="StandardVcpuQuota"/>, as EC2 does.</summary>
    private void CheckVcpuQuota(string instanceType, int count)
    {
        if (StandardVcpuQuota is not { } quota)
        {
            return;
        }

        var running = _instances.Values.Where(i => i.State is "pending" or "running").Sum(i => InstanceTypeVcpus.GetValueOrDefault(i.InstanceType, 2));
        if (running + count * InstanceTypeVcpus.GetValueOrDefault(instanceType, 2) > quota)
        {
            throw new Ec2Error(
                "VcpuLimitExceeded",
                $"You have requested more vCPU capacity than your current vCPU limit of {quota.ToString(CultureInfo.InvariantCulture)} allows for the instance bucket " +
                "that the specified instance type belongs to. Please visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit.");
        }
    }
}
