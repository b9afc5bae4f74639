using Amazon.EC2.Model;
using Microsoft.Extensions.Time.Testing;

namespace Coiled.Remote.Ec2.Tests;

/// <summary>What a cluster costs, all told (instance hours, public IPv4 addresses, root volumes), and the line it logs when it closes.</summary>
public sealed class ClusterCostTests
{
    private static readonly TimeSpan SixMinutesTwelve = TimeSpan.FromSeconds(372);

    [Fact]
    public void Breakdown_OneInstanceForA730HourMonth_ChargesHoursAddressAndVolume()
        => InstancePrices.Breakdown(0.08925m, TimeSpan.FromHours(730), 8).Should().Be(new Ec2CostBreakdown(65.1525m, 3.65m, 0.64m));

    [Fact]
    public void Breakdown_InstanceWithoutPublicAddress_ChargesNoIpv4()
        => InstancePrices.Breakdown(0.08925m, TimeSpan.FromHours(730), 8, publicAddress: false).Should().Be(new Ec2CostBreakdown(65.1525m, 0m, 0.64m));

    [Fact]
    public void CostSummary_PrivateInstances_ChargeNoPublicIpv4()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var resources = new ClusterResources(time);
        resources.LaunchSent("token");
        resources.Launched("token", [new Instance { InstanceId = "i-1" }, new Instance { InstanceId = "i-2" }]);
        resources.Priced(["i-1", "i-2"], OnDemand("c7i.large"), 0.08925m, 8, publicAddress: false);
        time.Advance(TimeSpan.FromHours(1));

        resources.CostSummary("c7i.large").Should().Be("2 x c7i.large (on-demand) for 1h00m: instances $0.179 + public IPv4 $0.000 + EBS $0.002 = $0.180");
    }

    [Fact]
    public void Breakdown_UnderAMinute_BillsAMinuteOfInstanceButTheAddressAndVolumePerSecond()
    {
        var cost = InstancePrices.Breakdown(3.6m, TimeSpan.FromSeconds(36), 730);

        cost.Should().Be(new Ec2CostBreakdown(0.06m, 0.00005m, 0.0008m));
        cost.Total.Should().Be(0.06085m);
    }

    [Fact]
    public void Breakdown_UnknownInstancePrice_TotalIsUnknown()
        => InstancePrices.Breakdown(null, TimeSpan.FromHours(1), 8).Total.Should().BeNull();

    [Fact]
    public void Cost_FourSpotInstancesForSixMinutes_AddsAddressesAndVolumesToTheSpotHours()
    {
        var time = new FakeTimeProvider();
        var resources = Launch(time, (4, Spot("c7i.large"), 0.0339m, 8));
        time.Advance(TimeSpan.FromMinutes(6));

        resources.CostBreakdown.Instances.Should().Be(0.01356m, "4 x 0.0339 $/h for 0.1 h");
        resources.CostBreakdown.PublicIpv4.Should().Be(0.002m, "4 x 0.005 $/h for 0.1 h");
        Math.Round(resources.CostBreakdown.Ebs, 12).Should().Be(0.000350684932m, "4 x 8 GB x 0.08 $/GB-month for 0.1 of 730 h");
        resources.Cost.Should().Be(resources.CostBreakdown.Total);
    }

    [Fact]
    public void Cost_AnInstanceTerminated_StopsCountingAtItsTermination()
    {
        var time = new FakeTimeProvider();
        var resources = Launch(time, (2, OnDemand("c7i.large"), 0.08925m, 8));
        time.Advance(TimeSpan.FromHours(1));
        resources.Terminated(resources.InstanceIds[0]);
        time.Advance(TimeSpan.FromHours(1));

        resources.CostBreakdown.Instances.Should().Be(0.2677500m, "one instance for 1 h and one for 2 h");
        resources.CostBreakdown.PublicIpv4.Should().Be(0.015m);
    }

    [Fact]
    public void Settle_InstanceEc2ReportsTerminated_CountsItUntilTheTimeInItsTransitionReason()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 3, 0, 0, TimeSpan.Zero));
        var resources = Launch(time, (2, OnDemand("c7i.large"), 0.08925m, 8));
        time.Advance(TimeSpan.FromHours(2));

        resources.Settle(
            [
                Described("i-000", "terminated", "User initiated (2026-12-01 04:00:00 GMT)"),
                Described("i-001", "running", string.Empty),
            ],
            TimeSpan.FromMinutes(10));

        resources.LiveInstanceIds.Should().Equal("i-001");
        resources.CostBreakdown.Instances.Should().Be(0.2677500m, "i-000 for the 1 h until EC2 terminated it, i-001 for 2 h");
    }

    [Fact]
    public void Settle_InstanceEc2NoLongerLists_EndsItNowOnceItWasLaunchedLongEnoughAgo()
    {
        var time = new FakeTimeProvider();
        var resources = Launch(time, (1, OnDemand("c7i.large"), 0.08925m, 8));
        time.Advance(TimeSpan.FromMinutes(5));

        resources.Settle([], TimeSpan.FromMinutes(10));
        resources.LiveInstanceIds.Should().Equal(["i-000"], "EC2 may not list an instance minutes after its launch yet");

        time.Advance(TimeSpan.FromMinutes(55));
        resources.Settle([], TimeSpan.FromMinutes(10));
        resources.LiveInstanceIds.Should().BeEmpty("EC2 forgets terminated instances: one it does not list an hour after its launch is gone");
        time.Advance(TimeSpan.FromHours(1));
        resources.CostBreakdown.Instances.Should().Be(0.08925m, "it counts until it was found gone");
    }

    [Theory]
    [InlineData("User initiated (2026-12-01 04:05:06 GMT)", "2026-12-01T04:05:06+00:00")]
    [InlineData("Service initiated (2026-02-28 23:59:59 GMT)", "2026-02-28T23:59:59+00:00")]
    [InlineData("", null)]
    [InlineData("Server.InternalError", null)]
    public void TransitionTime_Ec2StateTransitionReason_IsTheTimeItNames(string reason, string? expected)
        => Ec2Calls.TransitionTime(new Instance { StateTransitionReason = reason }).Should().Be(expected is null ? null : DateTimeOffset.Parse(expected, System.Globalization.CultureInfo.InvariantCulture));

    [Fact]
    public void CostSummary_FourSpotInstancesOfOneType_BreaksDownTheCost()
    {
        var time = new FakeTimeProvider();
        var resources = Launch(time, (4, Spot("c7i.large"), 0.0339m, 8));
        time.Advance(SixMinutesTwelve);

        resources.CostSummary("c7i.large").Should().Be(
            "4 x c7i.large (spot) for 6m12s: instances $0.014 + public IPv4 $0.002 + EBS $0.000 = $0.016");
    }

    [Fact]
    public void CostSummary_SpotAndOnDemandTypes_NamesEachAndRoundsTheExactTotal()
    {
        var time = new FakeTimeProvider();
        var resources = Launch(time, (3, Spot("c7i.large"), 0.0339m, 100), (1, OnDemand("m7i.large"), 0.1008m, 100));
        time.Advance(SixMinutesTwelve);

        resources.CostSummary("c7i.large").Should().Be(
            "3 x c7i.large (spot) + 1 x m7i.large (on-demand) for 6m12s: instances $0.021 + public IPv4 $0.002 + EBS $0.005 = $0.028");
    }

    [Fact]
    public void CostSummary_TypeOfUnknownPrice_SaysWhichAndLeavesTheTotalUnknown()
    {
        var time = new FakeTimeProvider();
        var resources = Launch(time, (1, Spot("c7i.large"), 0.0339m, 8), (2, OnDemand("x9z.large"), null, 8));
        time.Advance(SixMinutesTwelve);

        resources.CostSummary("c7i.large").Should().Be(
            "1 x c7i.large (spot) + 2 x x9z.large (on-demand) for 6m12s: instances: price unknown for x9z.large + public IPv4 $0.002 + EBS $0.000 = total unknown");
        resources.Cost.Should().BeNull();
    }

    [Fact]
    public void CostSummary_InstanceOnlyFoundByTag_CountsAsTheClusterTypeOfUnknownMarketAndPrice()
    {
        var time = new FakeTimeProvider();
        var resources = new ClusterResources(time);
        resources.Found(["i-found"]);
        time.Advance(TimeSpan.FromSeconds(42));

        resources.CostSummary("c7i.large").Should().Be(
            "1 x c7i.large for 42s: instances: price unknown for c7i.large + public IPv4 $0.000 + EBS $0.000 = total unknown");
    }

    [Fact]
    public void PaidSeconds_OneInstanceTerminatedAfterAnHourAndOneRunningTwo_AddsTheirBilledSeconds()
    {
        var time = new FakeTimeProvider();
        var resources = Launch(time, (2, OnDemand("c7i.large"), 0.08925m, 8));
        time.Advance(TimeSpan.FromHours(1));
        resources.Terminated(resources.InstanceIds[0]);
        time.Advance(TimeSpan.FromHours(1));

        resources.PaidSeconds.Should().Be(3 * 3600, "one instance for 1 h and one for 2 h");
    }

    [Fact]
    public void PaidSeconds_InstanceTerminatedAfterTwentySeconds_CountsTheMinuteEc2Bills()
    {
        var time = new FakeTimeProvider();
        var resources = Launch(time, (1, Spot("c7i.large"), 0.0339m, 8));
        time.Advance(TimeSpan.FromSeconds(20));
        resources.Terminated(resources.InstanceIds[0]);
        time.Advance(TimeSpan.FromHours(1));

        resources.PaidSeconds.Should().Be(60);
        resources.CostBreakdown.Instances.Should().Be(0.0339m / 60, "the cost counts the same minute");
    }

    [Fact]
    public void HourlyCost_PricedInstance_AddsItsAddressAndVolumeToItsPrice()
    {
        var resources = Launch(new FakeTimeProvider(), (1, OnDemand("c7i.large"), 0.08925m, 730));

        resources.HourlyCost(resources.InstanceIds[0]).Should().Be(0.08925m + 0.005m + 0.08m, "730 GB at 0.08 $/GB-month is 0.08 $ an hour");
    }

    [Fact]
    public void HourlyCost_UnpricedOrUnknownInstance_IsUnknown()
    {
        var resources = Launch(new FakeTimeProvider(), (1, OnDemand("x9z.large"), null, 8));

        resources.HourlyCost(resources.InstanceIds[0]).Should().BeNull();
        resources.HourlyCost("i-unknown").Should().BeNull();
    }

    private static Instance Described(string id, string state, string reason)
        => new() { InstanceId = id, State = new InstanceState { Name = state }, StateTransitionReason = reason };

    private static LaunchCandidate Spot(string type) => new(type, "subnet-1", "us-east-1a", Spot: true);

    private static LaunchCandidate OnDemand(string type) => new(type, "subnet-1", "us-east-1a", Spot: false);

    private static ClusterResources Launch(TimeProvider time, params (int Count, LaunchCandidate Candidate, decimal? Hourly, int RootVolumeGiB)[] launches)
    {
        var resources = new ClusterResources(time);
        var next = 0;
        foreach (var (count, candidate, hourly, rootVolumeGiB) in launches)
        {
            var ids = Enumerable.Range(next, count).Select(n => $"i-{n:000}").ToList();
            next += count;
            resources.LaunchSent($"token-{next}");
            resources.Launched($"token-{next}", ids.Select(id => new Instance { InstanceId = id }));
            resources.Priced(ids, candidate, hourly, rootVolumeGiB);
        }

        return resources;
    }
}
