using System.Diagnostics;
using Coiled.Remote.Scheduling;

namespace Coiled.Remote.Tests.Scheduling;

/// <summary>The caller notices its own stalls: a check that woke late, and a thread-pool probe that ran late or not yet.</summary>
public sealed class StallMonitorTests
{
    private static readonly long Start = Stopwatch.Frequency * 1000;

    [Fact]
    public void Tick_OnTimeWithEachProbeRunAtOnce_SeesNoStall()
    {
        var monitor = new StallMonitor();
        for (var i = 0; i < 50; i++)
        {
            var now = At(i * 100);
            monitor.Tick(now).Should().BeTrue("the previous probe ran, so a new one is queued");
            monitor.ProbeRan(now + Ms(2));
        }

        monitor.LastStalled.Should().Be(0);
    }

    [Fact]
    public void Tick_ProbeStillQueuedAfterTheThreshold_IsAStallNow()
    {
        var monitor = new StallMonitor();
        monitor.Tick(At(0)).Should().BeTrue();
        monitor.Tick(At(100)).Should().BeFalse("the probe has not run, so no second one is queued");
        monitor.LastStalled.Should().Be(0, "100 ms in the queue is not a stall");

        monitor.Tick(At(600)).Should().BeFalse();

        monitor.LastStalled.Should().Be(At(600));
    }

    [Fact]
    public void ProbeRan_AfterTheThreshold_IsAStallUntilItRan()
    {
        var monitor = new StallMonitor();
        monitor.Tick(At(0));

        monitor.ProbeRan(At(700));

        monitor.LastStalled.Should().Be(At(700));
        monitor.Tick(At(800)).Should().BeTrue("the probe ran, so the next check queues another");
    }

    [Fact]
    public void Tick_CheckingThreadWokeLate_IsAStall()
    {
        var monitor = new StallMonitor();
        monitor.Tick(At(0));
        monitor.ProbeRan(At(1));

        // A blocking collection or a stopped process holds this thread too: its next check comes 2 s after the last.
        monitor.Tick(At(2000));

        monitor.LastStalled.Should().Be(At(2000));
    }

    private static long At(int milliseconds) => Start + Ms(milliseconds);

    private static long Ms(int milliseconds) => Stopwatch.Frequency * milliseconds / 1000;
}
