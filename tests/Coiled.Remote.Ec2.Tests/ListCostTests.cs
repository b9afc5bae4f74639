using Coiled.Remote.Ec2.Simulation;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Coiled.Remote.Ec2.Tests;

/// <summary>What <c>coiled-remote ec2 ls</c> (<see cref="Ec2Backend.ListClustersAsync"/>) says the clusters it finds have cost.</summary>
public sealed class ListCostTests
{
    [LocalS3Fact]
    public async Task ListAsync_LocalEc2SelfContainedWorker_SpotClusterAfterAnHour_ChargesTheZonesSpotPriceAskedOnce()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        ec2.SpotPrice = "0.0339";
        await using var backend = new Ec2Backend(ec2.Options(spot: true), TestTuning.Fast(), TimeProvider.System);
        await backend.StartWorkersAsync(Ec2BackendTests.Launch(2), CancellationToken.None);
        var asked = ec2.Calls.Count(c => c.Action == "DescribeSpotPriceHistory");

        var listed = await SweeperAnHourAfterLaunch(ec2).ListAsync(CancellationToken.None);

        var cluster = listed.Single();
        cluster.CostBreakdown!.Instances.Should().Be(0.0678m, "2 spot instances for 1 h at 0.0339 $/h, not the on-demand 0.08925 $/h");
        cluster.CostBreakdown.PublicIpv4.Should().Be(0.01m, "2 addresses for 1 h at 0.005 $/h");
        Math.Round(cluster.CostBreakdown.Ebs, 12).Should().Be(0.001753424658m, "2 x 8 GB for 1 of 730 h at 0.08 $/GB-month");
        cluster.Cost.Should().Be(cluster.CostBreakdown.Total);
        cluster.CostNote.Should().BeNull();
        var call = ec2.Calls.Where(c => c.Action == "DescribeSpotPriceHistory").Skip(asked).Should().ContainSingle("both instances share a type and zone").Subject;
        call["AvailabilityZone"].Should().Be("us-east-1a");
    }

    [LocalS3Fact]
    public async Task ListAsync_LocalEc2SelfContainedWorker_SpotPriceUnknown_ChargesOnDemandAndSaysSo()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        await using var backend = new Ec2Backend(ec2.Options(spot: true), TestTuning.Fast(), TimeProvider.System);
        await backend.StartWorkersAsync(Ec2BackendTests.Launch(1), CancellationToken.None);
        ec2.SpotPrice = string.Empty;

        var listed = await SweeperAnHourAfterLaunch(ec2).ListAsync(CancellationToken.None);

        var cluster = listed.Single();
        cluster.CostBreakdown!.Instances.Should().Be(0.08925m, "c7i.large's on-demand price for 1 h");
        cluster.CostNote.Should().Be("spot price of c7i.large in us-east-1a unknown (EC2 gave no spot price for it); charged at the on-demand price");
    }

    /// <summary>A sweeper whose clock reads an hour after the (only) launch.</summary>
    private static Ec2Sweeper SweeperAnHourAfterLaunch(LocalEc2Endpoint ec2)
    {
        var launched = ec2.LiveInstances.Select(i => i.LaunchTime).Distinct().Should().ContainSingle("one RunInstances launched them").Subject;
        var time = new FakeTimeProvider(new DateTimeOffset(launched, TimeSpan.Zero) + TimeSpan.FromHours(1));
        return new Ec2Sweeper(ec2.Options(), TestTuning.Fast(), time, NullLogger.Instance);
    }
}
