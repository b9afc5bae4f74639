namespace Coiled.Remote.Tests.Telemetry;

/// <summary>The idle share and idle cost of <see cref="ClusterSummary"/>, from its busy and paid worker-seconds and its cost.</summary>
public sealed class ClusterSummaryEfficiencyTests
{
    [Fact]
    public void IdleShare_BusyTwentyFiveOfHundredPaid_IsThreeQuartersAndCostsThreeQuartersOfTheCost()
    {
        var summary = Summary(cost: 0.04m) with { BusyWorkerSeconds = 25, PaidWorkerSeconds = 100 };

        summary.IdleShare.Should().Be(0.75);
        summary.IdleCost.Should().Be(0.03m);
    }

    [Fact]
    public void IdleShare_NothingPaidYet_IsZero()
    {
        var summary = Summary(cost: 0m) with { BusyWorkerSeconds = 0, PaidWorkerSeconds = 0 };

        summary.IdleShare.Should().Be(0);
        summary.IdleCost.Should().Be(0m);
    }

    [Fact]
    public void IdleShare_BusyEveryPaidSecond_IsZero()
    {
        var summary = Summary(cost: 1m) with { BusyWorkerSeconds = 60, PaidWorkerSeconds = 60 };

        summary.IdleShare.Should().Be(0);
        summary.IdleCost.Should().Be(0m);
    }

    [Fact]
    public void IdleShare_BusyMoreThanPaid_IsClampedToZero()
    {
        // A clock read a moment apart from the other: never a negative share.
        var summary = Summary(cost: 1m) with { BusyWorkerSeconds = 61, PaidWorkerSeconds = 60 };

        summary.IdleShare.Should().Be(0);
    }

    [Fact]
    public void IdleCost_CostUnknown_IsUnknownButTheShareIsKnown()
    {
        var summary = Summary(cost: null) with { BusyWorkerSeconds = 30, PaidWorkerSeconds = 120 };

        summary.IdleShare.Should().Be(0.75);
        summary.IdleCost.Should().BeNull();
    }

    [Fact]
    public void IdleShare_NeverBusy_IsOneAndCostsAllOfTheCost()
    {
        var summary = Summary(cost: 0.0123m) with { BusyWorkerSeconds = 0, PaidWorkerSeconds = 90 };

        summary.IdleShare.Should().Be(1);
        summary.IdleCost.Should().Be(0.0123m);
    }

    private static ClusterSummary Summary(decimal? cost) => new(0, 0, 0, 100, 0, 0, 0, cost);
}
