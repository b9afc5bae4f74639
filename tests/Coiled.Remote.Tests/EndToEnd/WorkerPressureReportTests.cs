using Coiled.Remote.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>
/// What a worker daemon reports about memory and garbage collection on its heartbeats (its machine's memory, and the
/// time its processes were paused for garbage collection, its executors' included), and the warning the cluster logs
/// when a worker's memory passes 90 % of its machine's. The in-process worker's memory is this whole test process's, so
/// these tests run alone: another test's arrays would move the figure they measure.
/// </summary>
[Collection(AloneCollection.Name)]
public sealed class WorkerPressureReportTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);

    [LinuxFact]
    public async Task Heartbeats_ExecutorPausedForGarbageCollection_CarryItsPauseTimeAndTheMachinesMemory()
    {
        using var cache = new TempDirectory();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new LocalProcessBackend { CacheDirectory = cache.Path } });

        var executorPause = await cluster.SubmitAsync(TestJobs.CollectRepeatedly, 64, 20).WaitAsync(Safety);

        executorPause.Should().BeGreaterThan(0, "twenty forced full collections of a 64 MiB heap pause the executor");
        var worker = cluster.Connections.Should().ContainSingle().Subject;
        await Eventually.HoldsAsync(
            () => worker.Stats is { } stats && stats.GcPauseSeconds >= executorPause,
            "the worker's reported GC pause time to include its executor's", Safety);
        worker.Stats!.MachineMemoryBytes.Should().Be(worker.Hello.MemoryBytes).And.BeGreaterThan(0);
        worker.Stats.WorkingSetBytes.Should().BeLessThan(worker.Stats.MachineMemoryBytes);
    }

    [Fact]
    public async Task MemoryWarning_InProcessWorkerPastNinetyPercentOfASmallMachine_WarnsNamingTheWorkerAndCountsIt()
    {
        // The in-process worker is this process: its machine is said to hold 1 GiB more than this process holds now,
        // whatever that is, so that holding 1 GiB more takes it past 90 %.
        const double MiB = 1024 * 1024;
        const int GiB = 1024 * 1024 * 1024;
        var machine = Environment.WorkingSet + GiB;
        using var logs = new CapturingLoggerProvider();
        using var loggerFactory = logs.CreateFactory();
        await using var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 1,
            Backend = new InProcessBackend { MachineMemoryBytes = machine },
            LoggerFactory = loggerFactory,
        });
        using var meter = new MeterRecorder(cluster.Id);
        var worker = cluster.Connections.Should().ContainSingle().Subject;
        await Eventually.HoldsAsync(() => worker.Stats is not null, "the worker's first report", Safety);
        worker.Hello.MemoryBytes.Should().Be(machine);
        MemoryWarnings(logs).Should().BeEmpty("the worker holds less than 90 % of its machine's memory");

        try
        {
            await cluster.SubmitAsync(TestJobs.Hold, GiB).WaitAsync(Safety);
            await Eventually.HoldsAsync(() => MemoryWarnings(logs).Count > 0, "the memory warning", Safety);
        }
        finally
        {
            await cluster.SubmitAsync(TestJobs.Hold, 0).WaitAsync(Safety);
        }

        var warning = MemoryWarnings(logs)[0];
        warning.Level.Should().Be(LogLevel.Warning);
        warning.Message.Should().StartWith($"Worker {worker.Id} at {worker.Address} uses ")
            .And.Contain(FormattableString.Invariant($" MiB of its machine's {machine / MiB:0} MiB ("))
            .And.EndWith("run fewer tasks at once on it (LocalProcessBackend.SlotsPerWorker), make items smaller, or use machines with more memory");
        ((double)warning.Values["Percent"]!).Should().BeGreaterThan(90);
        meter.Sum("coiled.remote.worker.memory.warnings").Should().Be(MemoryWarnings(logs).Count);
    }

    private static List<LogEntry> MemoryWarnings(CapturingLoggerProvider logs)
        => [.. logs.Entries.Where(e => e.Message.Contains(" of its machine's ", StringComparison.Ordinal))];
}
