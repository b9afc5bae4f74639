using Coiled.Remote.Scheduling;
using Coiled.Remote.Transport.Protocol;
using Microsoft.Extensions.Time.Testing;

namespace Coiled.Remote.Tests.Scheduling;

/// <summary>
/// A worker short of memory (over 90 % of its machine's) or thrashing (over 20 % of its time paused for garbage
/// collection over 10 s), told once per episode from its reports, which come twice a second.
/// </summary>
public sealed class WorkerPressureTests
{
    private const long Machine = 1L << 30;
    private static readonly TimeSpan ReportEvery = TimeSpan.FromMilliseconds(500);

    private readonly FakeTimeProvider _time = new();
    private readonly WorkerPressure _pressure;
    private double _pauseSeconds;

    public WorkerPressureTests() => _pressure = new WorkerPressure(_time);

    [Fact]
    public void Thrashing_GcAQuarterOfTheTimeForTwentySeconds_WarnsOnceWithTheShare()
    {
        var found = Run(TimeSpan.FromSeconds(20), gcShare: 0.25);

        found.Should().ContainSingle().Which.Should().BeApproximately(0.25, 1e-9);
    }

    [Fact]
    public void Thrashing_GcATenthOfTheTimeForAMinute_NeverWarns()
        => Run(TimeSpan.FromMinutes(1), gcShare: 0.10).Should().BeEmpty();

    [Fact]
    public void Thrashing_GcAQuarterOfTheTimeForLessThanAWindow_DoesNotWarnYet()
        => Run(TimeSpan.FromSeconds(9.5), gcShare: 0.25).Should().BeEmpty("the share is measured over 10 s");

    [Fact]
    public void Thrashing_RecoversThenThrashesAgain_WarnsAgain()
    {
        var first = Run(TimeSpan.FromSeconds(20), gcShare: 0.25);
        var calm = Run(TimeSpan.FromSeconds(20), gcShare: 0.02);
        var second = Run(TimeSpan.FromSeconds(20), gcShare: 0.30);

        first.Should().ContainSingle();
        calm.Should().BeEmpty();
        second.Should().ContainSingle().Which.Should().BeGreaterThan(0.2, "it warns as the share over the last 10 s first passes 20 %").And.BeLessThan(0.3);
    }

    [Fact]
    public void Thrashing_EasesToFifteenPercentOnly_IsTheSameEpisode()
    {
        var found = Run(TimeSpan.FromSeconds(20), gcShare: 0.25)
            .Concat(Run(TimeSpan.FromSeconds(20), gcShare: 0.15))
            .Concat(Run(TimeSpan.FromSeconds(20), gcShare: 0.25));

        found.Should().ContainSingle("an episode ends at 10 % or less");
    }

    [Fact]
    public void Thrashing_PauseCounterGoesBack_MeasuresAfreshInsteadOfANegativeShare()
    {
        Run(TimeSpan.FromSeconds(20), gcShare: 0.05).Should().BeEmpty();
        _pauseSeconds = 0;

        Run(TimeSpan.FromSeconds(9.5), gcShare: 0.5).Should().BeEmpty("a new window has not filled yet");
        Run(TimeSpan.FromSeconds(1), gcShare: 0.5).Should().ContainSingle();
    }

    [Fact]
    public void Memory_NinetyFivePercentOfTheMachine_WarnsOnceWhileItStaysHigh()
    {
        var warned = new[] { 0.95, 0.96, 0.97, 0.88, 0.95 }.Count(share => Memory(share, Machine));

        warned.Should().Be(1, "88 % is still above the 85 % at which an episode ends");
    }

    [Fact]
    public void Memory_FallsBelowEightyFivePercentAndRisesAgain_WarnsAgain()
    {
        var warned = new[] { 0.95, 0.80, 0.91 }.Select(share => Memory(share, Machine)).ToList();

        warned.Should().Equal(true, false, true);
    }

    [Fact]
    public void Memory_NinetyPercentOrLess_NeverWarns()
        => new[] { 0.5, 0.89, 0.90 }.Should().OnlyContain(share => !Memory(share, Machine));

    [Fact]
    public void Memory_ReportWithoutTheMachineFigure_UsesTheOneTheWorkerGaveAtHello()
    {
        var stats = new WorkerStats { WorkingSetBytes = (long)(Machine * 0.95) };

        _pressure.Observe(_time.GetTimestamp(), stats, Machine).MemoryHigh.Should().BeTrue();
    }

    [Fact]
    public void Memory_MachineFigureUnknown_NeverWarns()
        => _pressure.Observe(_time.GetTimestamp(), new WorkerStats { WorkingSetBytes = long.MaxValue }, machineBytes: 0).MemoryHigh.Should().BeFalse();

    /// <summary>Reports every half second for <paramref name="span"/>, the pause time growing by <paramref name="gcShare"/> of it; the thrashing shares found.</summary>
    private List<double> Run(TimeSpan span, double gcShare)
    {
        var found = new List<double>();
        for (var elapsed = TimeSpan.Zero; elapsed < span; elapsed += ReportEvery)
        {
            _time.Advance(ReportEvery);
            _pauseSeconds += ReportEvery.TotalSeconds * gcShare;
            var stats = new WorkerStats { WorkingSetBytes = Machine / 4, MachineMemoryBytes = Machine, GcPauseSeconds = _pauseSeconds };
            if (_pressure.Observe(_time.GetTimestamp(), stats, Machine).Thrashing is { } share)
            {
                found.Add(share);
            }
        }

        return found;
    }

    /// <summary>One report of <paramref name="share"/> of <paramref name="machine"/> in use; whether it began a memory episode.</summary>
    private bool Memory(double share, long machine)
    {
        _time.Advance(ReportEvery);
        var stats = new WorkerStats { WorkingSetBytes = (long)(machine * share), MachineMemoryBytes = machine, GcPauseSeconds = _pauseSeconds };
        return _pressure.Observe(_time.GetTimestamp(), stats, machine).MemoryHigh;
    }
}
