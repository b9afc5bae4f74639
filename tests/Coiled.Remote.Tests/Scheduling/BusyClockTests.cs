using Coiled.Remote.Scheduling;
using Microsoft.Extensions.Time.Testing;

namespace Coiled.Remote.Tests.Scheduling;

/// <summary>A worker's busy time: from holding its first task to the outcome of its last, on the cluster's clock.</summary>
public sealed class BusyClockTests
{
    [Fact]
    public void Busy_HeldTasksForTenOfThirtySeconds_IsTenAndIdleSinceTheLastOutcome()
    {
        var time = new FakeTimeProvider();
        var clock = new BusyClock(time);
        time.Advance(TimeSpan.FromSeconds(10));
        clock.Holding(1);
        time.Advance(TimeSpan.FromSeconds(4));
        clock.Holding(3);
        time.Advance(TimeSpan.FromSeconds(6));
        clock.Holding(0);
        var idleFrom = time.GetTimestamp();
        time.Advance(TimeSpan.FromSeconds(10));

        clock.Busy(time.GetTimestamp()).Should().Be(TimeSpan.FromSeconds(10), "one task or three, the worker was busy");
        clock.IsBusy.Should().BeFalse();
        clock.IdleSince.Should().Be(idleFrom);
    }

    [Fact]
    public void Busy_WhileHoldingATask_CountsTheCurrentStretchAndHasNoIdleSince()
    {
        var time = new FakeTimeProvider();
        var clock = new BusyClock(time);
        clock.Holding(2);
        time.Advance(TimeSpan.FromSeconds(7));

        clock.Busy(time.GetTimestamp()).Should().Be(TimeSpan.FromSeconds(7));
        clock.IdleSince.Should().BeNull();
    }

    [Fact]
    public void IdleSince_NeverHeldATask_IsWhenTheClockStarted()
    {
        var time = new FakeTimeProvider();
        var started = time.GetTimestamp();
        var clock = new BusyClock(time);
        time.Advance(TimeSpan.FromMinutes(3));

        clock.IdleSince.Should().Be(started);
        clock.Busy(time.GetTimestamp()).Should().Be(TimeSpan.Zero);
    }
}
