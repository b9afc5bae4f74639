using System.Net;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Worker;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Coiled.Remote.Tests.Worker;

/// <summary>Refused calls and connections are logged as warnings, at most once a minute per address, with a count.</summary>
public sealed class RefusalLogTests
{
    private readonly CapturingLoggerProvider _logs = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly RefusalLog _refusals;

    public RefusalLogTests() => _refusals = new RefusalLog(_logs.CreateLogger("refusals"), _time);

    [Fact]
    public void Refused_ManyTimesWithinAMinute_LogsTheFirstAndThenTheCountAfterTheMinute()
    {
        var peer = IPAddress.Parse("192.0.2.7");
        for (var i = 0; i < 1000; i++)
        {
            _refusals.Refused(peer, "call(s)", "wrong token");
        }

        _logs.Entries.Should().ContainSingle().Which.Message.Should().Be(
            "The worker refused 1 call(s) from 192.0.2.7 since it last said so (at most once a minute per address): wrong token");

        _time.Advance(RefusalLog.Period);
        _refusals.Refused(peer, "call(s)", "wrong token");

        _logs.Entries.Should().HaveCount(2);
        _logs.Entries[1].Level.Should().Be(LogLevel.Warning);
        _logs.Entries[1].Values["Count"].Should().Be(1000, "the 999 not logged in the first minute and this one");
    }

    [Fact]
    public void Refused_DifferentAddressesAndKinds_AreCountedApart()
    {
        _refusals.Refused(IPAddress.Parse("192.0.2.7"), "call(s)", "no token");
        _refusals.Refused(IPAddress.Parse("192.0.2.8"), "call(s)", "no token");
        _refusals.Refused(IPAddress.Parse("192.0.2.7"), "bulk-data connection(s)", "wrong or missing token");
        _refusals.Refused(null, "bulk-data connection(s)", "wrong or missing token");

        _logs.Entries.Select(entry => entry.Message).Should().Equal(
            "The worker refused 1 call(s) from 192.0.2.7 since it last said so (at most once a minute per address): no token",
            "The worker refused 1 call(s) from 192.0.2.8 since it last said so (at most once a minute per address): no token",
            "The worker refused 1 bulk-data connection(s) from 192.0.2.7 since it last said so (at most once a minute per address): wrong or missing token",
            "The worker refused 1 bulk-data connection(s) from this machine (Unix socket) since it last said so (at most once a minute per address): wrong or missing token");
    }
}
