using Microsoft.Extensions.Logging.Abstractions;

namespace Coiled.Remote.Tests.KeptClusters;

/// <summary>How a kept cluster's local workers are started: outliving the caller and its terminal, timed by the keep-alive.</summary>
public sealed class KeptWorkerLaunchTests
{
    [Fact]
    public void StartInfo_KeptWorker_IgnoresTheTerminalOutlivesTheCallerAndWaitsForItsFirstClientTwoMinutes()
    {
        var launch = new WorkerLaunch(1, "token", TimeSpan.FromMinutes(20), TimeSpan.FromMinutes(2), NullLoggerFactory.Instance) { KeepAlive = TimeSpan.FromMinutes(45) };

        var arguments = new LocalProcessBackend().StartInfo("coiled-remote-worker.dll", "cache", 1, launch).ArgumentList;

        arguments.Should().Contain("--ignore-interrupt").And.NotContain("--exit-with-stdin");
        arguments.SkipWhile(a => a != "--no-client-timeout").Skip(1).First().Should().Be("2700", "the keep-alive counts from the last client");
        arguments.SkipWhile(a => a != "--idle-timeout").Skip(1).First().Should().Be("2700", "a worker kept longer than the idle timeout also waits that long for work");
        arguments.SkipWhile(a => a != "--first-client-timeout").Skip(1).First().Should().Be("120");
    }

    [Fact]
    public void StartInfo_WorkerNotKept_ExitsWithItsCallerAsBefore()
    {
        var launch = new WorkerLaunch(1, "token", TimeSpan.FromMinutes(20), TimeSpan.FromMinutes(2), NullLoggerFactory.Instance);

        var arguments = new LocalProcessBackend().StartInfo("coiled-remote-worker.dll", "cache", 1, launch).ArgumentList;

        arguments.Should().Contain("--exit-with-stdin").And.NotContain("--ignore-interrupt").And.NotContain("--first-client-timeout");
        arguments.SkipWhile(a => a != "--no-client-timeout").Skip(1).First().Should().Be("120");
    }
}
