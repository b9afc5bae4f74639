using Coiled.Remote.Ec2.Simulation;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Ec2.Tests.Launch;

/// <summary>
/// A start takes whatever capacity EC2 has (MinCount 1) and tops up across zones, instance types and markets, asking
/// again until the capacity deadline: the local EC2 endpoint refuses as EC2 does (InsufficientInstanceCapacity where a
/// zone has no room, MaxSpotInstanceCountExceeded and VcpuLimitExceeded for quotas), and its instances boot for real.
/// </summary>
public sealed class CapacityTests
{
    [LocalS3Fact]
    public async Task StartAsync_NoCapacityInTheFirstZone_LaunchesEveryInstanceInTheSecond()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        ec2.Capacity["c7i.large@us-east-1a"] = 0;

        await using (var cluster = await StartAsync(ec2, ec2.Options(), workers: 2))
        {
            (await cluster.MapAsync(Ec2Jobs.Square, [1.0, 2.0])).Should().Equal(1.0, 4.0);
        }

        ec2.Instances.Should().HaveCount(2).And.OnlyContain(i => i.Zone == "us-east-1b");
        Launches(ec2).Should().Equal(("us-east-1a", "c7i.large", 2), ("us-east-1b", "c7i.large", 2));
        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
    }

    [LocalS3Fact]
    public async Task StartAsync_PartialCapacity_TakesWhatThereIsThenTopsUpInTheNextZone()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        ec2.Capacity["c7i.large@us-east-1a"] = 1;

        await using (var cluster = await StartAsync(ec2, ec2.Options(), workers: 3))
        {
            cluster.Workers.Should().HaveCount(3);
        }

        Launches(ec2).Should().Equal(("us-east-1a", "c7i.large", 3), ("us-east-1b", "c7i.large", 2));
        ec2.Instances.Count(i => i.Zone == "us-east-1a").Should().Be(1);
        ec2.Instances.Count(i => i.Zone == "us-east-1b").Should().Be(2);
        ec2.Calls.Where(c => c.Action == "RunInstances").Should().OnlyContain(c => c["MinCount"] == "1");
        ec2.LiveInstances.Should().BeEmpty();
    }

    [LocalS3Fact]
    public async Task StartAsync_NoCapacityAnywhereAtFirst_AsksAgainUntilSomeComes()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        ec2.Capacity["c7i.large@us-east-1a"] = 0;
        ec2.Capacity["c7i.large@us-east-1b"] = 0;
        var refused = 0;
        ec2.OnCall = call =>
        {
            if (call.Action == "RunInstances" && Interlocked.Increment(ref refused) == 3)
            {
                // Capacity appears in the second zone after both zones refused once.
                ec2.Capacity["c7i.large@us-east-1b"] = 5;
            }
        };

        await using (var cluster = await StartAsync(ec2, ec2.Options(), workers: 1))
        {
            cluster.Workers.Should().ContainSingle();
        }

        Launches(ec2).Should().Equal(("us-east-1a", "c7i.large", 1), ("us-east-1b", "c7i.large", 1), ("us-east-1a", "c7i.large", 1), ("us-east-1b", "c7i.large", 1));
        ec2.Instances.Should().ContainSingle().Which.Zone.Should().Be("us-east-1b");
    }

    [LocalS3Fact]
    public async Task StartAsync_FirstTypeHasNoCapacityAnywhere_LaunchesTheNextTypeAndPricesIt()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        ec2.Capacity["c7i.large@us-east-1a"] = 0;
        ec2.Capacity["c7i.large@us-east-1b"] = 0;
        var options = ec2.Options() with { InstanceTypes = ["c7i.large", "m7i.large"] };

        await using (var cluster = await StartAsync(ec2, options, workers: 1))
        {
            cluster.Cost.Should().BeGreaterThan(0, "the type launched has a known price");
        }

        ec2.Instances.Should().ContainSingle().Which.InstanceType.Should().Be("m7i.large");
        Launches(ec2).Should().Equal(("us-east-1a", "c7i.large", 1), ("us-east-1a", "m7i.large", 1));
    }

    [LocalS3Fact]
    public async Task StartAsync_SpotQuotaReached_LaunchesOnDemandInTheSameZone()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        ec2.MaxSpotInstances = 0;

        await using (var cluster = await StartAsync(ec2, ec2.Options(spot: true), workers: 1))
        {
            cluster.Workers.Should().ContainSingle();
        }

        var runs = ec2.Calls.Where(c => c.Action == "RunInstances").ToList();
        runs.Select(r => r["InstanceMarketOptions.MarketType"]).Should().Equal("spot", null);
        ec2.Instances.Should().ContainSingle().Which.Should().Match<FakeInstance>(i => !i.Spot && i.Zone == "us-east-1a");
    }

    [Theory]
    [InlineData("c7i.large", "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests' (L-34B43A08) at https://eu-west-1.console.aws.amazon.com/servicequotas/home/services/ec2/quotas/L-34B43A08")]
    [InlineData("g5.xlarge", "All G and VT Spot Instance Requests' (L-3819A6DF) at https://eu-west-1.console.aws.amazon.com/servicequotas/home/services/ec2/quotas/L-3819A6DF")]
    [InlineData("x2idn.16xlarge", "All X Spot Instance Requests' at https://eu-west-1.console.aws.amazon.com/servicequotas/home/services/ec2/quotas")]
    public void SpotQuotaExceeded_NamesTheSpotQuotaOfTheTypesBucketAndWhereToAskForMore(string instanceType, string expected)
    {
        var refusal = new Amazon.EC2.AmazonEC2Exception("Max spot instance count exceeded") { ErrorCode = "MaxSpotInstanceCountExceeded" };

        var failure = CapacityCheck.SpotQuotaExceeded(refusal, instanceType, 3, "eu-west-1");

        failure.Message.Should().Contain(expected).And.Contain($"asked for 3 x {instanceType} (spot)").And.Contain("Ec2Options.Spot = false");
    }

    [Fact]
    public void IsBlocked_SpotQuotaOfOneBucketRefused_BlocksSpotOfThatBucketOnly()
    {
        var refusals = new CapacityRefusals();
        var gpu = new LaunchCandidate("g5.xlarge", "subnet-0a", "us-east-1a", Spot: true);

        refusals.QuotaExceeded(gpu, "MaxSpotInstanceCountExceeded", null);

        refusals.IsBlocked(gpu).Should().BeTrue();
        refusals.IsBlocked(gpu with { Zone = "us-east-1b", SubnetId = "subnet-0b" }).Should().BeTrue("the quota is the account's, in every zone");
        refusals.IsBlocked(new LaunchCandidate("c7i.large", "subnet-0a", "us-east-1a", Spot: true)).Should().BeFalse("Standard spot has a quota of its own");
        refusals.IsBlocked(gpu with { Spot = false }).Should().BeFalse("on-demand has a quota of its own");
    }

    [LocalS3Fact]
    public async Task StartAsync_RunInstancesThrottledBeyondTheSdkRetries_AsksAgainAndStartsWithEveryInstance()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        // More refusals than the SDK's own retries of one call absorb: the start's capacity rounds must ask again.
        ec2.ThrottleRunInstances = 12;

        await using (var cluster = await StartAsync(ec2, ec2.Options(), workers: 2))
        {
            (await cluster.MapAsync(Ec2Jobs.Square, [3.0, 4.0])).Should().Equal(9.0, 16.0);
        }

        ec2.ThrottleRunInstances.Should().Be(0);
        ec2.Calls.Count(c => c.Action == "RunInstances").Should().BeGreaterThan(12);
        ec2.Instances.Should().HaveCount(2);
        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
    }

    [LocalS3Fact]
    public async Task StartAsync_RunInstancesFailsAfterItLaunched_TakesTheLaunchedInstancesAndLaunchesNoMore()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        // More failures than the SDK's own retries (each with the same client token) absorb.
        ec2.InternalErrorAfterLaunch = 12;

        await using (var cluster = await StartAsync(ec2, ec2.Options(), workers: 2))
        {
            (await cluster.MapAsync(Ec2Jobs.Square, [3.0, 4.0])).Should().Equal(9.0, 16.0);
            cluster.Workers.Should().HaveCount(2);
        }

        ec2.Instances.Should().HaveCount(2, "the failed call's instances are the cluster's: none is launched twice");
        ec2.Calls.Where(c => c.Action == "RunInstances").Select(c => c["ClientToken"]).Distinct().Should().ContainSingle();
        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
    }

    [LocalS3Fact]
    public async Task StartAsync_NoCapacityUntilTheDeadline_FailsNamingWhatEc2RefusedAndLeavesNothing()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        ec2.Capacity["c7i.large@us-east-1a"] = 0;
        ec2.Capacity["c7i.large@us-east-1b"] = 0;
        var options = ec2.Options() with { CapacityTimeout = TimeSpan.FromSeconds(1) };

        var start = () => StartAsync(ec2, options, workers: 2);

        var failure = (await start.Should().ThrowAsync<ClusterStartException>()).Which;
        failure.Message.Should().StartWith("EC2 had no capacity for cluster coiled-remote-").And.Contain("within 1 s: EC2 launched nothing")
            .And.Contain("c7i.large on-demand in us-east-1a (subnet-0a): InsufficientInstanceCapacity")
            .And.Contain("c7i.large on-demand in us-east-1b (subnet-0b): InsufficientInstanceCapacity")
            .And.Contain("Ec2Options.InstanceTypes");
        ec2.Instances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
    }

    [LocalS3Fact]
    public async Task StartAsync_FewerThanAskedByTheDeadlineButTheMinimum_StartsWithThoseAndSaysWhy()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        ec2.Capacity["c7i.large@us-east-1a"] = 1;
        ec2.Capacity["c7i.large@us-east-1b"] = 0;
        var logs = new ListLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs));
        var options = ec2.Options() with { CapacityTimeout = TimeSpan.FromSeconds(1) };

        await using (var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 3,
            MinimumWorkers = 1,
            Backend = new Ec2Backend(options, Tuning(), TimeProvider.System),
            LoggerFactory = loggerFactory,
        }))
        {
            (await cluster.SubmitAsync(Ec2Jobs.Square, 5.0)).Should().Be(25.0);
            cluster.Workers.Should().ContainSingle();
        }

        ec2.Instances.Should().ContainSingle();
        logs.Lines.Should().Contain(l => l.Contains("starts with 1 of the 3 instance(s) asked for (minimum 1)") && l.Contains("us-east-1b (subnet-0b): InsufficientInstanceCapacity"));
        logs.Lines.Should().Contain(l => l.Contains("EC2 had capacity for 1 of the 3 instance(s) of cluster coiled-remote-"), "the cluster hears why the others never come");
        ec2.LiveInstances.Should().BeEmpty();
    }

    [LocalS3Fact]
    public async Task StartAsync_MinimumLaunchedWhileTheRestHasNoCapacity_StartsAtOnceAndTheRestJoinsWhenCapacityComes()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        ec2.Capacity["c7i.large@us-east-1a"] = 1;
        ec2.Capacity["c7i.large@us-east-1b"] = 0;
        var options = ec2.Options() with { CapacityTimeout = TimeSpan.FromMinutes(2) };

        await using var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 2,
            MinimumWorkers = 1,
            Backend = new Ec2Backend(options, Tuning(), TimeProvider.System),
        });

        cluster.Workers.Should().ContainSingle("the start returned with its minimum, long before the capacity deadline");
        ec2.Capacity["c7i.large@us-east-1b"] = 1;
        // The second instance launches at the next round of asking, boots, and its worker joins the running cluster.
        using (var safety = new CancellationTokenSource(TimeSpan.FromMinutes(3)))
        {
            while (cluster.Workers.Count(w => w.State == WorkerState.Ready) < 2)
            {
                await Task.Delay(100, safety.Token);
            }
        }

        (await cluster.MapAsync(Ec2Jobs.Square, [1.0, 2.0, 3.0])).Should().Equal(1.0, 4.0, 9.0);
        ec2.Instances.Select(i => i.Zone).Should().BeEquivalentTo(["us-east-1a", "us-east-1b"]);
    }

    [LocalS3Fact]
    public async Task StartAsync_VcpuQuotaForHalfTheClusterAndAMinimumOfTwo_LaunchesWhatTheQuotaAllows()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        ec2.StandardVcpuQuota = 32;

        await using (var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 4,
            MinimumWorkers = 2,
            Backend = new Ec2Backend(ec2.Options("c7i.4xlarge") with { CapacityTimeout = TimeSpan.FromSeconds(1) }, Tuning(), TimeProvider.System),
        }))
        {
            cluster.Workers.Should().HaveCount(2);
        }

        ec2.Calls.Where(c => c.Action == "RunInstances").Select(c => c["MaxCount"]).Should().StartWith(["4", "2"], "the quota refused four, then took two");
        ec2.Instances.Should().HaveCount(2);
        ec2.LiveInstances.Should().BeEmpty();
    }

    private static Task<Cluster> StartAsync(LocalEc2Endpoint ec2, Ec2Options options, int workers)
        => Cluster.StartAsync(new ClusterOptions { Workers = workers, Backend = new Ec2Backend(options, Tuning(), TimeProvider.System) });

    private static Ec2Tuning Tuning() => TestTuning.Fast() with { CapacityRetryInterval = TimeSpan.FromMilliseconds(200) };

    /// <summary>Each RunInstances asked of the endpoint: the zone of its subnet, the type and MaxCount.</summary>
    private static List<(string Zone, string Type, int Count)> Launches(LocalEc2Endpoint ec2)
        => [.. ec2.Calls.Where(c => c.Action == "RunInstances").Select(c => (
            ec2.Subnets.Single(s => s.SubnetId == c["NetworkInterface.1.SubnetId"]).Zone, c["InstanceType"]!, int.Parse(c["MaxCount"]!, System.Globalization.CultureInfo.InvariantCulture)))];
}
