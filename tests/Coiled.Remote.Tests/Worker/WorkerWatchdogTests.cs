using System.Net;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Worker;
using Microsoft.Extensions.Time.Testing;

namespace Coiled.Remote.Tests.Worker;

/// <summary>The worker's watchdog on a fake clock: it stops the worker exactly when a timeout has passed, and says so.</summary>
public sealed class WorkerWatchdogTests : IDisposable
{
    private const string Token = "watchdog-token-0123456789";
    private readonly FakeTimeProvider _time = new();
    private readonly TempDirectory _cache = new();

    public void Dispose() => _cache.Dispose();

    [Fact]
    public async Task IdleTimeout_NoWorkForThatLong_StopsSayingHowLongItWaited()
    {
        await using var host = await StartAsync(idle: TimeSpan.FromSeconds(1), noClient: Timeout.InfiniteTimeSpan);

        _time.Advance(TimeSpan.FromMilliseconds(999));
        host.StopRequested.IsCompleted.Should().BeFalse("the idle timeout has not passed");
        _time.Advance(TimeSpan.FromMilliseconds(1));

        (await host.StopRequested.WaitAsync(TimeSpan.FromMinutes(1))).Should().Be("no work for 1 s (idle timeout 1 s)");
    }

    [Fact]
    public async Task NoClientTimeout_NoClientForThatLong_StopsSayingHowLongItWaited()
    {
        await using var host = await StartAsync(idle: Timeout.InfiniteTimeSpan, noClient: TimeSpan.FromSeconds(120));

        _time.Advance(TimeSpan.FromSeconds(119));
        host.StopRequested.IsCompleted.Should().BeFalse("the no-client timeout has not passed");
        _time.Advance(TimeSpan.FromSeconds(1));

        (await host.StopRequested.WaitAsync(TimeSpan.FromMinutes(1))).Should().Be("no client connected for 120 s (no-client timeout 120 s)");
    }

    [Fact]
    public async Task FirstClientTimeout_NoClientEverComes_WaitsOutTheFirstClientTimeoutNotTheNoClientTimeout()
    {
        await using var host = await StartAsync(idle: Timeout.InfiniteTimeSpan, noClient: TimeSpan.FromSeconds(120), firstClient: TimeSpan.FromSeconds(720));

        _time.Advance(TimeSpan.FromSeconds(719));
        host.StopRequested.IsCompleted.Should().BeFalse("no client has come yet, and the first-client timeout has not passed");
        _time.Advance(TimeSpan.FromSeconds(1));

        (await host.StopRequested.WaitAsync(TimeSpan.FromMinutes(1))).Should().Be("no client connected for 720 s (first-client timeout 720 s)");
    }

    [Fact]
    public async Task FirstClientTimeout_AfterAClientCameAndLeft_TheNoClientTimeoutApplies()
    {
        await using var host = await StartAsync(idle: Timeout.InfiniteTimeSpan, noClient: TimeSpan.FromSeconds(120), firstClient: TimeSpan.FromSeconds(720));
        _time.Advance(TimeSpan.FromSeconds(300));
        host.StopRequested.IsCompleted.Should().BeFalse();

        // A client comes (well after the no-client timeout of the worker's start) and leaves.
        host.Runtime.Activity.ClientConnected().Dispose();
        _time.Advance(TimeSpan.FromSeconds(119));
        host.StopRequested.IsCompleted.Should().BeFalse("the no-client timeout runs from the moment the client left");
        _time.Advance(TimeSpan.FromSeconds(1));

        (await host.StopRequested.WaitAsync(TimeSpan.FromMinutes(1))).Should().Be("no client connected for 120 s (no-client timeout 120 s)");
    }

    private Task<WorkerHost> StartAsync(TimeSpan idle, TimeSpan noClient, TimeSpan? firstClient = null)
        => WorkerHost.StartAsync(new WorkerHostOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Token = Token,
            CacheDirectory = _cache.Path,
            IdleTimeout = idle,
            NoClientTimeout = noClient,
            FirstClientTimeout = firstClient,
            TimeProvider = _time,
        }, CancellationToken.None);
}
