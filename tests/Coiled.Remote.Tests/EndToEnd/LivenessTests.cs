using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>
/// Death is told apart from slowness: a worker process frozen with SIGSTOP is alive but silent, as a worker in a long
/// blocking garbage collection or on a saturated machine is; a killed one is dead.
/// </summary>
public sealed partial class LivenessTests
{
    private const int SigCont = 18;
    private const int SigStop = 19;
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task MapAsync_WorkerFrozenForLessThanTheWorkerTimeout_IsNotLostAndEveryItemRunsOnce()
    {
        using var cache = new TempDirectory();
        using var logs = new CapturingLoggerProvider();
        using var loggerFactory = logs.CreateFactory();
        var backend = new LocalProcessBackend { CacheDirectory = cache.Path };
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = backend, LoggerFactory = loggerFactory });
        var frozen = backend.ProcessIds[0];

        var map = cluster.MapAsync(TestJobs.SlowIdentity, Enumerable.Range(0, 300));
        Signal(frozen, SigStop);
        try
        {
            // Longer than any earlier heartbeat limit, and than an HTTP/2 keepalive ping's one-second timeout.
            await Task.Delay(TimeSpan.FromSeconds(5));
        }
        finally
        {
            Signal(frozen, SigCont);
        }

        var results = await map.WaitAsync(Safety);

        results.Should().Equal(Enumerable.Range(0, 300));
        cluster.Workers.Should().HaveCount(2).And.OnlyContain(w => w.State == WorkerState.Ready);
        cluster.Summary.TasksRun.Should().Be(300);
        logs.Entries.Should().NotContain(e => e.Message.Contains(" was lost"), "a frozen worker that resumes within the worker timeout is slow, not dead");
    }

    [Fact]
    public async Task MapAsync_WorkerFrozenLongerThanTheWorkerTimeout_IsLostAfterTheTimeoutStoppedAndItsTasksRunElsewhere()
    {
        using var cache = new TempDirectory();
        using var logs = new CapturingLoggerProvider();
        using var loggerFactory = logs.CreateFactory();
        var backend = new LocalProcessBackend { CacheDirectory = cache.Path };
        await using var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 2,
            Backend = backend,
            LoggerFactory = loggerFactory,
            WorkerTimeout = TimeSpan.FromSeconds(2),
            ReplaceLostWorkers = false,
        });
        var frozen = backend.ProcessIds[0];
        var frozenId = cluster.Workers.Single(w => w.ProcessId == frozen).Id;

        var map = cluster.MapAsync(TestJobs.SlowIdentity, Enumerable.Range(0, 200));
        Signal(frozen, SigStop);
        try
        {
            var results = await map.WaitAsync(Safety);

            results.Should().Equal(Enumerable.Range(0, 200));
            cluster.Workers.Single(w => w.Id == frozenId).State.Should().Be(WorkerState.Lost);
            var loss = logs.Entries.Should().ContainSingle(e => e.Message.Contains(" was lost")).Subject.Message;
            loss.Should().Contain($"Worker {frozenId}").And.Contain("ClusterOptions.WorkerTimeout is 2 s");
            var silence = double.Parse(SilenceSeconds().Match(loss).Groups[1].Value, CultureInfo.InvariantCulture);
            silence.Should().BeGreaterThanOrEqualTo(2.0, "a silent worker is given the whole worker timeout");
            await ProcessAssert.AllExitAsync([frozen], TimeSpan.FromSeconds(30));
        }
        finally
        {
            // Resumes it if the test failed before the cluster killed it; a killed process takes no signal.
            _ = Kill(frozen, SigCont);
        }
    }

    [Fact]
    public async Task MapAsync_WorkerKilledWithAnInfiniteWorkerTimeout_IsLostAtOnceByItsExit()
    {
        using var cache = new TempDirectory();
        using var logs = new CapturingLoggerProvider();
        using var loggerFactory = logs.CreateFactory();
        var backend = new LocalProcessBackend { CacheDirectory = cache.Path };
        await using var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 2,
            Backend = backend,
            LoggerFactory = loggerFactory,
            WorkerTimeout = Timeout.InfiniteTimeSpan,
            ReplaceLostWorkers = false,
        });
        var killed = backend.ProcessIds[0];

        var map = cluster.MapAsync(TestJobs.SlowIdentity, Enumerable.Range(0, 200));
        using (var victim = System.Diagnostics.Process.GetProcessById(killed))
        {
            victim.Kill();
        }

        // With no timeout at all, only the ended process and its reset connection can tell the cluster.
        var results = await map.WaitAsync(Safety);

        results.Should().Equal(Enumerable.Range(0, 200));
        logs.Entries.Should().ContainSingle(e => e.Message.Contains(" was lost")).Which.Message.Should().Contain("exit code 137 (killed by SIGKILL");
    }

    [Fact]
    public async Task StartAsync_WorkerTimeoutUnderOneSecond_ThrowsArgumentOutOfRangeSayingTheLimit()
    {
        var act = () => Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend(), WorkerTimeout = TimeSpan.FromMilliseconds(500) });

        (await act.Should().ThrowAsync<ArgumentOutOfRangeException>()).Which.Message
            .Should().StartWith("ClusterOptions.WorkerTimeout must be at least 1 s (default 30 s), or Timeout.InfiniteTimeSpan.");
    }

    private static void Signal(int processId, int signal)
        => Kill(processId, signal).Should().Be(0, $"signal {signal} reaches worker process {processId}");

#pragma warning disable SYSLIB1054 // LibraryImport would need unsafe code in this project for one call.
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
#pragma warning restore SYSLIB1054

    [GeneratedRegex(@"no heartbeat for (\d+\.\d) s")]
    private static partial Regex SilenceSeconds();
}
