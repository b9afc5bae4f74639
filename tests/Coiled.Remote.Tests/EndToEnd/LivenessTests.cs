using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Coiled.Remote.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>
/// Death is told apart from slowness: a worker process frozen with SIGSTOP is alive but silent, as a worker in a long
/// blocking garbage collection or on a saturated machine is; a killed one is dead.
/// </summary>
public sealed partial class LivenessTests : IAsyncLifetime
{
    private const int SigCont = 18;
    private const int SigStop = 19;
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(3);
    private readonly TempDirectory _cache = new();
    private readonly CapturingLoggerProvider _logs = new();
    private readonly LocalProcessBackend _backend;
    private readonly ILoggerFactory _loggerFactory;
    private Cluster? _cluster;

    public LivenessTests()
    {
        _backend = new LocalProcessBackend { CacheDirectory = _cache.Path };
        _loggerFactory = _logs.CreateFactory();
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }

        _loggerFactory.Dispose();
        _logs.Dispose();
        _cache.Dispose();
    }

    [UnixFact]
    public async Task MapAsync_WorkerFrozenForLessThanTheWorkerTimeout_IsNotLostAndEveryItemRunsOnce()
    {
        var cluster = await StartAsync(new ClusterOptions());
        var frozen = _backend.ProcessIds[0];

        var map = cluster.MapAsync(TestJobs.SlowIdentity, Enumerable.Range(0, 300));
        var processes = Freeze(frozen);
        try
        {
            // Longer than any earlier heartbeat limit, and than an HTTP/2 keepalive ping's one-second timeout.
            await Task.Delay(TimeSpan.FromSeconds(5));
        }
        finally
        {
            Thaw(processes);
        }

        var results = await map.WaitAsync(Safety);

        results.Should().Equal(Enumerable.Range(0, 300));
        cluster.Workers.Should().HaveCount(2).And.OnlyContain(w => w.State == WorkerState.Ready);
        cluster.Summary.TasksRun.Should().Be(300);
        _logs.Entries.Should().NotContain(e => e.Message.Contains(" was lost"), "a frozen worker that resumes within the worker timeout is slow, not dead");
    }

    [UnixFact]
    public async Task MapAsync_WorkerFrozenLongerThanTheWorkerTimeout_IsLostAfterTheTimeoutStoppedAndItsTasksRunElsewhere()
    {
        var cluster = await StartAsync(new ClusterOptions
        {
            WorkerTimeout = TimeSpan.FromSeconds(2),
            ReplaceLostWorkers = false,
        });
        var frozen = _backend.ProcessIds[0];
        var frozenId = cluster.Workers.Single(w => w.ProcessId == frozen).Id;

        var map = cluster.MapAsync(TestJobs.SlowIdentity, Enumerable.Range(0, 200));
        var processes = Freeze(frozen);
        try
        {
            var results = await map.WaitAsync(Safety);

            results.Should().Equal(Enumerable.Range(0, 200));
            cluster.Workers.Single(w => w.Id == frozenId).State.Should().Be(WorkerState.Lost);
            var loss = _logs.Entries.Should().ContainSingle(e => e.Message.Contains(" was lost")).Subject.Message;
            loss.Should().Contain($"Worker {frozenId}").And.Contain("ClusterOptions.WorkerTimeout is 2 s");
            var silence = double.Parse(SilenceSeconds().Match(loss).Groups[1].Value, CultureInfo.InvariantCulture);
            silence.Should().BeGreaterThanOrEqualTo(2.0, "a silent worker is given the whole worker timeout");
            await ProcessAssert.AllExitAsync([frozen], TimeSpan.FromSeconds(30));
        }
        finally
        {
            // Resumes what the cluster did not kill: its executors then see their daemon gone and exit.
            Thaw(processes);
        }
    }

    [UnixFact]
    public async Task MapAsync_WorkerFrozenLongerThanTheWorkerTimeout_IsStoppedBeforeItsReplacementStarts()
    {
        // Replacements wait for the gate, as a slow machine or a cloud launch would: the frozen worker, whose tasks are
        // back in the queue, must be stopped without waiting for its replacement.
        var backend = new GatedReplacements(_backend);
        _cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = backend, LoggerFactory = _loggerFactory, WorkerTimeout = TimeSpan.FromSeconds(2) });
        var frozen = _backend.ProcessIds[0];

        var map = _cluster.MapAsync(TestJobs.SlowIdentity, Enumerable.Range(0, 200));
        var processes = Freeze(frozen);
        try
        {
            await ProcessAssert.AllExitAsync([frozen], Safety);
            backend.ReplacementsAsked.Should().Be(1);
            backend.Open.Task.IsCompleted.Should().BeFalse("the frozen worker was stopped while its replacement still waited to start");
            backend.Open.SetResult();

            (await map.WaitAsync(Safety)).Should().Equal(Enumerable.Range(0, 200));
        }
        finally
        {
            backend.Open.TrySetResult();
            Thaw(processes);
        }
    }

    [Fact]
    public async Task ConnectAsync_WorkerThatNeverAnswersWithAOneSecondWorkerTimeout_IsGivenUpAfterTheTenSecondFirstAnswerAllowance()
    {
        // Accepts connections and never says a word, as a worker process that is still compiling its first call would.
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        var held = new List<System.Net.Sockets.Socket>();
        var accepting = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    held.Add(await silent.AcceptSocketAsync());
                }
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or ObjectDisposedException)
            {
                // The listener stopped.
            }
        });
        var address = new Uri($"http://127.0.0.1:{((System.Net.IPEndPoint)silent.LocalEndpoint).Port}");

        var act = () => Cluster.ConnectAsync([address], "silent-worker-token-0123456789", new ClusterOptions { WorkerTimeout = TimeSpan.FromSeconds(1) }).WaitAsync(Safety);

        var start = (await act.Should().ThrowAsync<ClusterStartException>()).Which;
        start.Message.Should().Contain("the worker did not answer within 10 s (ClusterOptions.WorkerTimeout, at least 10 s for a first answer)");
        silent.Stop();
        await accepting;
        held.ForEach(socket => socket.Dispose());
    }

    [UnixFact]
    public async Task MapAsync_WorkerKilledWithAnInfiniteWorkerTimeout_IsLostAtOnceByItsExit()
    {
        var cluster = await StartAsync(new ClusterOptions
        {
            WorkerTimeout = Timeout.InfiniteTimeSpan,
            ReplaceLostWorkers = false,
        });
        var killed = _backend.ProcessIds[0];

        var map = cluster.MapAsync(TestJobs.SlowIdentity, Enumerable.Range(0, 200));
        using (var victim = System.Diagnostics.Process.GetProcessById(killed))
        {
            victim.Kill();
        }

        // With no timeout at all, only the ended process and its reset connection can tell the cluster.
        var results = await map.WaitAsync(Safety);

        results.Should().Equal(Enumerable.Range(0, 200));
        _logs.Entries.Should().ContainSingle(e => e.Message.Contains(" was lost")).Which.Message.Should().Contain("exit code 137 (killed by SIGKILL");
    }

    [Theory]
    [InlineData(500.0)]
    [InlineData(50 * 24 * 3600 * 1000.0)]
    [InlineData(double.PositiveInfinity)]
    public async Task StartAsync_WorkerTimeoutOutsideOneSecondTo49Days_ThrowsArgumentOutOfRangeSayingTheRange(double milliseconds)
    {
        var timeout = double.IsPositiveInfinity(milliseconds) ? TimeSpan.MaxValue : TimeSpan.FromMilliseconds(milliseconds);
        var act = () => Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend(), WorkerTimeout = timeout });

        var thrown = (await act.Should().ThrowAsync<ArgumentOutOfRangeException>()).Which;
        thrown.ActualValue.Should().Be(timeout);
        thrown.Message.Should().StartWith(
            "ClusterOptions.WorkerTimeout must be from 1 s to 49 days (default 30 s), or Timeout.InfiniteTimeSpan to never declare a silent worker lost.");
    }

    [Fact]
    public async Task StartAsync_WorkerTimeoutOf49Days_StartsAndRuns()
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend(), WorkerTimeout = TimeSpan.FromDays(49) });

        (await cluster.SubmitAsync(TestJobs.Square, 7.0)).Should().Be(49.0);
    }

    /// <summary>A backend whose first start is immediate and whose later starts (replacements) wait for <see cref="Open"/>.</summary>
    private sealed class GatedReplacements(LocalProcessBackend inner) : IClusterBackend
    {
        private int _starts;

        public TaskCompletionSource Open { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int ReplacementsAsked => Math.Max(0, Volatile.Read(ref _starts) - 1);

        public string Name => inner.Name;

        public int DefaultWorkerCount => inner.DefaultWorkerCount;

        public decimal? Cost => inner.Cost;

        public async Task<IReadOnlyList<WorkerEndpoint>> StartWorkersAsync(WorkerLaunch launch, CancellationToken cancellationToken)
        {
            if (Interlocked.Increment(ref _starts) > 1)
            {
                await Open.Task.WaitAsync(cancellationToken);
            }

            return await inner.StartWorkersAsync(launch, cancellationToken);
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }

    /// <summary>Starts two local worker processes with <paramref name="options"/>, logging to <see cref="_logs"/>.</summary>
    private async Task<Cluster> StartAsync(ClusterOptions options)
        => _cluster = await Cluster.StartAsync(options with { Workers = 2, Backend = _backend, LoggerFactory = _loggerFactory });

    private static void Signal(int processId, int signal)
        => Kill(processId, signal).Should().Be(0, $"signal {signal} reaches worker process {processId}");

    /// <summary>
    /// Stops a worker daemon and the executor processes it runs, as a frozen machine stops them all: an executor left
    /// running would go on serving its direct route while its daemon says nothing. Returns what it stopped.
    /// </summary>
    private static List<int> Freeze(int daemon)
    {
        Signal(daemon, SigStop);
        var stopped = new List<int> { daemon };
        foreach (var task in Directory.EnumerateDirectories($"/proc/{daemon}/task"))
        {
            foreach (var child in File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                var id = int.Parse(child, CultureInfo.InvariantCulture);
                Signal(id, SigStop);
                stopped.Add(id);
            }
        }

        return stopped;
    }

    /// <summary>Resumes what <see cref="Freeze"/> stopped and still runs; a killed process takes no signal.</summary>
    private static void Thaw(IEnumerable<int> processes)
    {
        foreach (var id in processes)
        {
            _ = Kill(id, SigCont);
        }
    }

#pragma warning disable SYSLIB1054 // LibraryImport would need unsafe code in this project for one call.
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
#pragma warning restore SYSLIB1054

    [GeneratedRegex(@"no heartbeat for (\d+\.\d) s")]
    private static partial Regex SilenceSeconds();
}
