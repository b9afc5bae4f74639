using System.Net;
using Coiled.Remote.Ec2.Simulation;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Worker.Cloud;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Coiled.Remote.Tests.Worker;

/// <summary>
/// The worker's poller of EC2's instance metadata, against a fake IMDSv2 on loopback (real HTTP): the session token,
/// what 404 and 200 mean, and a service that does not answer or forgets its tokens.
/// </summary>
public sealed class MachineNoticePollerTests : IAsyncLifetime
{
    private const string Instance = "i-0123456789abcdef0";
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(5);
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-12-01T11:58:00Z"));
    private readonly CapturingLoggerProvider _logs = new();
    private readonly MachineNotices _notices = new();
    private LocalInstanceMetadata _metadata = null!;
    private MachineNoticePoller _poller = null!;
    private ILoggerFactory _loggerFactory = null!;

    public async Task InitializeAsync()
    {
        _metadata = await LocalInstanceMetadata.StartAsync(IPAddress.Loopback);
        _loggerFactory = _logs.CreateFactory();
        _poller = new MachineNoticePoller(
            new InstanceMetadataClient(_metadata.AddressFor(Instance), _time), _notices, Period, _time, _loggerFactory.CreateLogger<MachineNoticePoller>(), "w-test");
    }

    public async Task DisposeAsync()
    {
        await _poller.DisposeAsync();
        await _metadata.DisposeAsync();
        _loggerFactory.Dispose();
    }

    [Fact]
    public async Task PollOnceAsync_NoNotice_TakesOneTokenForEveryPollAndRecordsNothing()
    {
        await _poller.PollOnceAsync(CancellationToken.None);
        await _poller.PollOnceAsync(CancellationToken.None);

        _metadata.Requests(Instance).Should().Equal(
            "PUT token",
            "GET spot/instance-action 404", "GET events/recommendations/rebalance 404",
            "GET spot/instance-action 404", "GET events/recommendations/rebalance 404");
        (_notices.Interruption, _notices.Rebalance).Should().Be((null, null));
        _notices.Changed.IsCompleted.Should().BeFalse();
        _logs.Entries.Should().BeEmpty();
    }

    [Fact]
    public async Task PollOnceAsync_InterruptionAnnounced_RecordsItsActionAndTimeAndWarnsOnce()
    {
        await _poller.PollOnceAsync(CancellationToken.None);
        var changed = _notices.Changed;
        _metadata.Interrupt(Instance, "terminate", DateTimeOffset.Parse("2026-12-01T12:00:00Z"));

        await _poller.PollOnceAsync(CancellationToken.None);
        await _poller.PollOnceAsync(CancellationToken.None);

        changed.IsCompleted.Should().BeTrue("the heartbeat streams report a new notice at once");
        _notices.Interruption!.Action.Should().Be("terminate");
        _notices.Interruption.TimeText.Should().Be("2026-12-01T12:00:00Z");
        _notices.Rebalance.Should().BeNull();
        _logs.Entries.Should().ContainSingle().Which.Should().Match<LogEntry>(e => e.Level == LogLevel.Warning && e.Message ==
            "Worker w-test: the machine's cloud announced it will terminate it at 2026-12-01T12:00:00Z; the worker opens no new task stream and its client moves its tasks elsewhere");
    }

    [Fact]
    public async Task PollOnceAsync_RebalanceRecommended_RecordsItAndNoInterruption()
    {
        _metadata.RecommendRebalance(Instance, DateTimeOffset.Parse("2026-12-01T11:57:30Z"));

        await _poller.PollOnceAsync(CancellationToken.None);

        _notices.Rebalance!.TimeText.Should().Be("2026-12-01T11:57:30Z");
        _notices.Interruption.Should().BeNull();
        _logs.Entries.Should().ContainSingle().Which.Message.Should().Be(
            "Worker w-test: the machine's cloud recommends moving work off it (rebalance recommendation of 2026-12-01T11:57:30Z); the worker goes on");
    }

    [Fact]
    public async Task PollOnceAsync_ServiceUnreachable_LogsItOnceAndReadsTheNoticeOnceItAnswersAgain()
    {
        _metadata.SetUnreachable(Instance, true);
        await _poller.PollOnceAsync(CancellationToken.None);
        await _poller.PollOnceAsync(CancellationToken.None);
        await _poller.PollOnceAsync(CancellationToken.None);

        _metadata.SetUnreachable(Instance, false);
        _metadata.Interrupt(Instance, "stop", DateTimeOffset.Parse("2026-12-01T12:00:00Z"));
        await _poller.PollOnceAsync(CancellationToken.None);

        _notices.Interruption!.Action.Should().Be("stop");
        _logs.Entries.Select(e => e.Level).Should().Equal(LogLevel.Warning, LogLevel.Information, LogLevel.Warning);
        _logs.Entries[0].Message.Should().StartWith("Worker w-test cannot read the instance metadata (").And.EndWith(
            "); it tries again every 5 s, and would miss a spot interruption notice meanwhile. Check --instance-metadata");
        _logs.Entries[1].Message.Should().Be("Worker w-test reads the instance metadata again");
    }

    [Fact]
    public async Task PollOnceAsync_ServiceForgotItsTokens_TakesANewTokenAfterA401AndAsksAgain()
    {
        await _poller.PollOnceAsync(CancellationToken.None);
        _metadata.ExpireTokens(Instance);
        _metadata.Interrupt(Instance);

        await _poller.PollOnceAsync(CancellationToken.None);

        _metadata.Requests(Instance).Skip(3).Should().Equal(
            "GET spot/instance-action 401", "PUT token", "GET spot/instance-action 200", "GET events/recommendations/rebalance 404");
        _notices.Interruption.Should().NotBeNull();
    }

    [Fact]
    public async Task PollOnceAsync_TokenWithinAMinuteOfItsSixHours_TakesANewOneBeforeAsking()
    {
        await _poller.PollOnceAsync(CancellationToken.None);
        _time.Advance(InstanceMetadataClient.TokenLifetime - TimeSpan.FromMinutes(2));
        await _poller.PollOnceAsync(CancellationToken.None);
        _time.Advance(TimeSpan.FromMinutes(1));
        await _poller.PollOnceAsync(CancellationToken.None);

        _metadata.Requests(Instance).Count(r => r == "PUT token").Should().Be(2);
        _metadata.Requests(Instance).Should().NotContain(r => r.EndsWith(" 401", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Start_EveryPeriodOnTheClock_PollsAgain()
    {
        _poller.Start();
        await Eventually.HoldsAsync(() => _metadata.Requests(Instance).Count == 3, "the first poll");

        _time.Advance(Period);
        await Eventually.HoldsAsync(() => _metadata.Requests(Instance).Count == 5, "the second poll, one period later");
        _time.Advance(Period - TimeSpan.FromSeconds(1));
        await Task.Delay(100);

        _metadata.Requests(Instance).Should().HaveCount(5, "no poll before the period ends");
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("{\"action\":\"terminate\"}")]
    public void ReadInterruption_NoticeWithoutAReadableTime_CountsWithTheTimeTwoMinutesFromNow(string body)
    {
        var notice = _poller.ReadInterruption(body);

        (notice.Action, notice.TimeText).Should().Be(("terminate", "2026-12-01T12:00:00Z"));
    }
}
