using Coiled.Remote.Scheduling;
using Coiled.Remote.Telemetry;
using Coiled.Remote.Tests.Scheduling;
using Microsoft.Extensions.Time.Testing;

namespace Coiled.Remote.Tests.Telemetry;

/// <summary>When a cluster warns that it keeps idle workers: once, after <see cref="ClusterOptions.IdleWarningAfter"/>.</summary>
public sealed class IdleWarningTests
{
    private static readonly TimeSpan After = TimeSpan.FromMinutes(2);

    [Fact]
    public void Check_WorkersIdleJustUnderTheTime_DoesNotWarn()
    {
        var time = new FakeTimeProvider();
        var warning = new IdleWarning(After, time);
        var idle = Idle(time.GetTimestamp(), "w-1", "w-2");
        time.Advance(After - TimeSpan.FromSeconds(1));

        warning.Check(time.GetTimestamp(), idle).Should().BeNull();
    }

    [Fact]
    public void Check_OneWorkerIdlePastTheTime_WarnsOnceNamingOnlyThatOne()
    {
        var time = new FakeTimeProvider();
        var warning = new IdleWarning(After, time);
        var early = Idle(time.GetTimestamp(), "w-1");
        time.Advance(TimeSpan.FromSeconds(30));
        var idle = early.Concat(Idle(time.GetTimestamp(), "w-2")).ToList();
        time.Advance(After - TimeSpan.FromSeconds(30));

        warning.Check(time.GetTimestamp(), idle).Should().ContainSingle().Which.Worker.Id.Should().Be("w-1");
        time.Advance(TimeSpan.FromMinutes(10));
        warning.Check(time.GetTimestamp(), idle).Should().BeNull("a cluster warns once");
    }

    [Fact]
    public void Check_NoWorkerIdle_DoesNotWarn()
    {
        var time = new FakeTimeProvider();
        var warning = new IdleWarning(After, time);
        time.Advance(TimeSpan.FromHours(1));

        warning.Check(time.GetTimestamp(), []).Should().BeNull();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void Check_ZeroOrInfiniteTime_NeverWarns(int milliseconds)
    {
        var time = new FakeTimeProvider();
        var warning = new IdleWarning(TimeSpan.FromMilliseconds(milliseconds), time);
        var idle = Idle(time.GetTimestamp(), "w-1");
        time.Advance(TimeSpan.FromDays(1));

        IdleWarning.Enabled(TimeSpan.FromMilliseconds(milliseconds)).Should().BeFalse();
        warning.Check(time.GetTimestamp(), idle).Should().BeNull();
    }

    private static List<Scheduler.IdleWorker> Idle(long since, params string[] ids)
        => [.. ids.Select(id => new Scheduler.IdleWorker(new FakeTaskWorker(id, 2), since))];
}
