using Coiled.Remote.Scheduling;
using Coiled.Remote.Transport.Protocol;
using Microsoft.Extensions.Time.Testing;

namespace Coiled.Remote.Tests.Scheduling;

/// <summary>When a worker's silence makes it lost, on a fake clock checked as often as the real one is.</summary>
public sealed class HeartbeatMonitorTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public void Check_NoHeartbeatForLongerThanTheTimeout_ReportsTheSilence()
    {
        var time = new FakeTimeProvider();
        var monitor = new HeartbeatMonitor(Timeout, time, stalls: null);

        var silence = CheckUntilSilent(time, monitor, TimeSpan.FromMinutes(1));

        silence.Should().Be(Timeout + HeartbeatMonitor.CheckPeriod);
    }

    [Fact]
    public void Check_HeartbeatArrived_CountsSilenceFromIt()
    {
        var time = new FakeTimeProvider();
        var start = time.GetTimestamp();
        var monitor = new HeartbeatMonitor(Timeout, time, stalls: null);
        CheckFor(time, monitor, TimeSpan.FromSeconds(20)).Should().BeNull();

        monitor.Heard(new WorkerStats());
        var silence = CheckUntilSilent(time, monitor, TimeSpan.FromMinutes(1));

        silence.Should().Be(Timeout + HeartbeatMonitor.CheckPeriod);
        time.GetElapsedTime(start).Should().Be(TimeSpan.FromSeconds(20) + Timeout + HeartbeatMonitor.CheckPeriod);
    }

    [Fact]
    public void Check_ThisProcessStalledPastTheTimeout_DoesNotCountTheStallAsSilence()
    {
        var time = new FakeTimeProvider();
        var monitor = new HeartbeatMonitor(Timeout, time, stalls: null);

        // One check that runs 40 s late: this process, not the worker, was held up.
        time.Advance(TimeSpan.FromSeconds(40));
        monitor.Check(time.GetTimestamp()).Should().BeNull();

        // The silence counts from the stall's start plus the stall, so the timeout runs again almost in full.
        CheckFor(time, monitor, TimeSpan.FromSeconds(29)).Should().BeNull();
    }

    [Fact]
    public void Check_InfiniteTimeout_NeverReportsSilence()
    {
        var time = new FakeTimeProvider();
        var monitor = new HeartbeatMonitor(System.Threading.Timeout.InfiniteTimeSpan, time, stalls: null);

        CheckFor(time, monitor, TimeSpan.FromHours(1)).Should().BeNull();
    }

    /// <summary>Checks every <see cref="HeartbeatMonitor.CheckPeriod"/> for <paramref name="limit"/> and returns the first silence reported.</summary>
    private static TimeSpan? CheckUntilSilent(FakeTimeProvider time, HeartbeatMonitor monitor, TimeSpan limit)
        => CheckFor(time, monitor, limit) ?? throw new InvalidOperationException($"No silence reported within {limit}.");

    private static TimeSpan? CheckFor(FakeTimeProvider time, HeartbeatMonitor monitor, TimeSpan limit)
    {
        for (var waited = TimeSpan.Zero; waited < limit; waited += HeartbeatMonitor.CheckPeriod)
        {
            time.Advance(HeartbeatMonitor.CheckPeriod);
            if (monitor.Check(time.GetTimestamp()) is { } silence)
            {
                return silence;
            }
        }

        return null;
    }
}
