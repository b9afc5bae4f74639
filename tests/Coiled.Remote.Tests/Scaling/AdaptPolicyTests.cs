using Coiled.Remote.Scaling;

namespace Coiled.Remote.Tests.Scaling;

/// <summary>What an adapting cluster decides from its workers and queue, second by second.</summary>
public sealed class AdaptPolicyTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 1, 4, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Idle = TimeSpan.FromSeconds(60);

    [Fact]
    public void Decide_TasksQueuedBeyondTheSlots_GrowsToWhatTheyNeedUpToTheMaximum()
    {
        var policy = new AdaptPolicy(1, 4, Idle);

        var decision = policy.Decide(Start, [new("w-1", 2, 4)], queued: 12);

        decision.Should().BeEquivalentTo(new AdaptPolicy.Decision(4, [], "16 task(s) waiting or running on 2 slot(s)"));
    }

    [Fact]
    public void Decide_FewTasksQueuedBeyondTheSlots_GrowsByWhatTheyNeedOnly()
    {
        var policy = new AdaptPolicy(1, 8, Idle);

        policy.Decide(Start, [new("w-1", 2, 2)], queued: 1)!.Target.Should().Be(2, "three tasks need two workers of two slots");
    }

    [Fact]
    public void Decide_NothingQueuedButTasksPrefetched_DoesNotGrow()
    {
        var policy = new AdaptPolicy(1, 4, Idle);

        policy.Decide(Start, [new("w-1", 2, 4)], queued: 0).Should().BeNull("tasks a worker holds are its own to run: a new worker would get none of them");
    }

    [Fact]
    public void Decide_AtTheMaximum_DoesNotGrow()
    {
        var policy = new AdaptPolicy(1, 2, Idle);

        policy.Decide(Start, [new("w-1", 1, 2), new("w-2", 1, 2)], queued: 100).Should().BeNull();
    }

    [Fact]
    public void Decide_WorkersIdle_RetiresThemOnlyOnceIdleForTheScaleDownTime_DownToTheMinimum()
    {
        var policy = new AdaptPolicy(1, 4, Idle);
        AdaptPolicy.Worker[] workers = [new("w-1", 1, 0), new("w-2", 1, 0), new("w-3", 1, 0)];
        policy.Decide(Start, workers, 0).Should().BeNull("they just joined");

        policy.Decide(Start + TimeSpan.FromSeconds(59), workers, 0).Should().BeNull();
        var decision = policy.Decide(Start + TimeSpan.FromSeconds(60), workers, 0);

        decision.Should().NotBeNull();
        decision!.Target.Should().Be(1);
        decision.Retire.Should().HaveCount(2).And.OnlyHaveUniqueItems();
        decision.Reason.Should().Be("2 worker(s) idle for 60 s");
    }

    [Fact]
    public void Decide_AWorkerBusyMeanwhile_ItsIdleTimeStartsOver()
    {
        var policy = new AdaptPolicy(1, 4, Idle);
        policy.Decide(Start, [new("w-1", 1, 0), new("w-2", 1, 0)], 0);
        policy.Decide(Start + TimeSpan.FromSeconds(30), [new("w-1", 1, 0), new("w-2", 1, 1)], 0);

        var decision = policy.Decide(Start + TimeSpan.FromSeconds(60), [new("w-1", 1, 0), new("w-2", 1, 0)], 0);

        decision!.Retire.Should().Equal("w-1");
    }

    [Fact]
    public void Decide_AfterGrowing_RetiresNothingForTheScaleDownTime()
    {
        var policy = new AdaptPolicy(1, 4, Idle);
        policy.Decide(Start, [new("w-1", 1, 0), new("w-2", 1, 0)], 0);
        policy.Decide(Start + TimeSpan.FromSeconds(50), [new("w-1", 1, 0), new("w-2", 1, 1)], queued: 5).Should().NotBeNull("it grows");

        // w-1 was idle since the start, but the cluster grew only 11 s ago.
        policy.Decide(Start + TimeSpan.FromSeconds(61), [new("w-1", 1, 0), new("w-2", 1, 0), new("w-3", 1, 0)], 0).Should().BeNull();
        policy.Decide(Start + TimeSpan.FromSeconds(110), [new("w-1", 1, 0), new("w-2", 1, 0), new("w-3", 1, 0)], 0)!.Retire.Should().Equal("w-1", "w-2");
    }

    [Fact]
    public void Decide_FewerThanTheMinimum_GrowsToIt()
    {
        var policy = new AdaptPolicy(3, 5, Idle);

        policy.Decide(Start, [new("w-1", 1, 0)], 0).Should().BeEquivalentTo(new AdaptPolicy.Decision(3, [], "fewer than the minimum of 3"));
    }

    [Fact]
    public void Decide_MoreThanTheMaximum_RetiresTheLeastBusy()
    {
        var policy = new AdaptPolicy(1, 2, Idle);

        var decision = policy.Decide(Start, [new("w-1", 1, 3), new("w-2", 1, 0), new("w-3", 1, 1)], 0);

        decision.Should().BeEquivalentTo(new AdaptPolicy.Decision(2, ["w-2"], "more than the maximum of 2"));
    }

    [Theory]
    [InlineData(0, 4, 60)]
    [InlineData(3, 2, 60)]
    [InlineData(1, 4, 0)]
    public void Constructor_BoundsOutOfRange_AreRefused(int minimum, int maximum, int seconds)
    {
        var make = () => new AdaptPolicy(minimum, maximum, TimeSpan.FromSeconds(seconds));

        make.Should().Throw<ArgumentOutOfRangeException>();
    }
}
