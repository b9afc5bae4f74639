using Coiled.Remote.Telemetry;
using Coiled.Remote.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Tests.Telemetry;

/// <summary>What the library logs through <see cref="ClusterOptions.LoggerFactory"/>, and that it never writes to the console.</summary>
[Collection(AloneCollection.Name)]
public sealed class LoggingTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Cluster_WithLoggerFactory_LogsStartRetriesAndSummaryAndWritesNothingToConsole()
    {
        using var temp = new TempDirectory();
        using var logs = new CapturingLoggerProvider();
        using var factory = logs.CreateFactory();
        var (stdout, stderr) = (Console.Out, Console.Error);
        var console = new StringWriter();
        Console.SetOut(console);
        Console.SetError(console);
        try
        {
            await using (var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend(), LoggerFactory = factory }))
            {
                await cluster.MapAsync(TestJobs.Square, Enumerable.Range(0, 30).Select(i => (double)i)).WaitAsync(Safety);
                await cluster.SubmitAsync(TestJobs.FlakyThenSucceeds, Path.Combine(temp.Path, "counter"), 1).WaitAsync(Safety);
                await cluster.MapOutcomesAsync(TestJobs.FailOnSeven, Enumerable.Range(0, 10).Select(i => (double)i)).WaitAsync(Safety);
            }
        }
        finally
        {
            Console.SetOut(stdout);
            Console.SetError(stderr);
        }

        console.ToString().Should().BeEmpty("the library logs through ILogger only");
        var entries = logs.Entries;
        entries.Should().Contain(e => e.Level == LogLevel.Information && e.Category == "Coiled.Remote.Cluster" && e.Message.StartsWith("Cluster started on in-process workers"));
        entries.Should().Contain(e => e.Level == LogLevel.Information && e.Message.StartsWith("TestJobs.FlakyThenSucceeds item 0 threw System.IO.IOException on worker ") && e.Message.EndsWith("retry 1 of 2"));
        entries.Should().Contain(e => e.Level == LogLevel.Debug && e.Message.StartsWith("map TestJobs.Square: 30 item(s) in "));

        var closed = entries.Should().ContainSingle(e => e.Message.StartsWith("Cluster closed:")).Subject;
        closed.Level.Should().Be(LogLevel.Information);
        closed.Message.Should().StartWith("Cluster closed: 41 task(s) run, 1 failed, 1 retried; ");
        closed.Values["TasksRun"].Should().Be(41L);
        closed.Values["TasksFailed"].Should().Be(1L);
        closed.Values["TasksRetried"].Should().Be(1L);
        closed.Values["SyncBytes"].Should().Be(0L, "in-process workers run the caller's own code");
        closed.Values["Cost"].Should().Be("$0.0000");
        closed.Values.Should().ContainKeys("WorkerSeconds", "BytesMoved", "ArgumentBytes", "ResultBytes");
    }

    [LinuxFact]
    public async Task WorkerKilled_WithLoggerFactory_LogsLossAndReplacement()
    {
        using var cache = new TempDirectory();
        using var logs = new CapturingLoggerProvider();
        using var factory = logs.CreateFactory();
        await using (var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 1,
            MaxWorkerDeaths = 1,
            Backend = new LocalProcessBackend { CacheDirectory = cache.Path },
            LoggerFactory = factory,
        }))
        {
            var outcomes = await cluster.MapOutcomesAsync(TestJobs.KillWorkerDaemonOn, [(1, 1)]).WaitAsync(Safety);
            outcomes[0].Error.Should().BeOfType<WorkerLostException>();
            (await cluster.SubmitAsync(TestJobs.Square, 2.0).WaitAsync(Safety)).Should().Be(4.0);
        }

        var entries = logs.Entries;
        entries.Should().Contain(e => e.Level == LogLevel.Warning && e.Message.Contains(" was lost: ") && e.Message.EndsWith("1 task(s) go back to the queue"));
        entries.Should().Contain(e => e.Level == LogLevel.Error && e.Message == "TestJobs.KillWorkerDaemonOn item 0 fails: it was running in 1 worker processes that died");
        entries.Should().Contain(e => e.Level == LogLevel.Warning && e.Message.Contains(" replaced by worker "));
        entries.Should().Contain(e => e.Level == LogLevel.Information && e.Message.StartsWith("Cluster closed: 2 task(s) run, 1 failed, 0 retried;"));
    }

    [UnixFact]
    public async Task ExecutorKilled_WithLoggerFactory_LogsItsEndAndTheSameWorkerServesOn()
    {
        using var cache = new TempDirectory();
        using var logs = new CapturingLoggerProvider();
        using var factory = logs.CreateFactory();
        await using (var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 1,
            MaxWorkerDeaths = 1,
            Backend = new LocalProcessBackend { CacheDirectory = cache.Path },
            LoggerFactory = factory,
        }))
        {
            var outcomes = await cluster.MapOutcomesAsync(TestJobs.KillWorkerOn, [(1, 1)]).WaitAsync(Safety);
            outcomes[0].Error.Should().BeOfType<WorkerLostException>();
            (await cluster.SubmitAsync(TestJobs.Square, 2.0).WaitAsync(Safety)).Should().Be(4.0);
        }

        var entries = logs.Entries;
        entries.Should().Contain(e => e.Level == LogLevel.Warning && e.Message.Contains(": its executor (process ") && e.Message.Contains(" ended: exit code 137 (killed by SIGKILL")
            && e.Message.EndsWith("1 task(s) go back to the queue"));
        entries.Should().Contain(e => e.Level == LogLevel.Error && e.Message == "TestJobs.KillWorkerOn item 0 fails: it was running in 1 worker processes that died");
        entries.Should().NotContain(e => e.Message.Contains(" was lost") || e.Message.Contains(" replaced by worker "), "the worker itself is fine");
        entries.Should().Contain(e => e.Level == LogLevel.Information && e.Message.StartsWith("Cluster closed: 2 task(s) run, 1 failed, 0 retried;"));
    }

    [Fact]
    public async Task MapAsync_NoListener_StartsNoActivity()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend() });

        RemoteTelemetry.Source.HasListeners().Should().BeFalse("no test that listens runs beside this one");
        RemoteTelemetry.StartCall("map", "TestJobs.Square", cluster.Id, 1).Should().BeNull(
            "without a listener a call takes no activity, so its tasks skip tracing too");
        (await cluster.MapAsync(TestJobs.Square, [3.0]).WaitAsync(Safety)).Should().Equal(9.0);
    }
}
