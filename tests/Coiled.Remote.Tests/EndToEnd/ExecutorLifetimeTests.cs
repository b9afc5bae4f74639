using System.Net;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Worker;
using Coiled.Remote.Worker.Executors;
using Microsoft.Extensions.Time.Testing;
using Xunit.Abstractions;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>
/// Executor processes live and die on their own: a task that ends its executor costs that executor, never the daemon
/// or its cache; an executor without a client is ended; and ending it gives back everything its tasks held.
/// </summary>
public sealed class ExecutorLifetimeTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(3);

    [LinuxTheory]
    [InlineData("Environment.Exit", "exit code 3 (the executor process exited by itself: Environment.Exit")]
    [InlineData("stack overflow", "exit code 134 (killed by SIGABRT, which is also how .NET ends a process whose stack overflowed); it wrote \"Stack overflow.\"")]
    [InlineData("kill", "exit code 137 (killed by SIGKILL")]
    public async Task SubmitAsync_TaskEndsItsExecutor_FailsAfterMaxWorkerDeathsAndTheSameDaemonRunsTheNextTaskWithoutAnUpload(string fault, string death)
    {
        await using var daemon = await TestDaemon.StartAsync();
        await using var cluster = await Cluster.ConnectAsync([daemon.Address], TestDaemon.Token, new ClusterOptions { MaxWorkerDeaths = 2 }).WaitAsync(Safety);
        var worker = cluster.Workers.Single();
        var executor = await cluster.SubmitAsync(TestJobs.ProcessId, 0).WaitAsync(Safety);
        var synchronized = cluster.Summary.SyncBytes;
        var blobs = Directory.GetFiles(Path.Combine(daemon.CachePath, "blobs")).Order().ToList();

        Func<Task> act = fault switch
        {
            "Environment.Exit" => () => cluster.SubmitAsync(TestJobs.ExitProcess, 3).WaitAsync(Safety),
            "stack overflow" => () => cluster.SubmitAsync(TestJobs.OverflowStack, 0).WaitAsync(Safety),
            _ => () => cluster.SubmitAsync(TestJobs.KillWorkerOn, 1, 1).WaitAsync(Safety),
        };

        var lost = (await act.Should().ThrowAsync<WorkerLostException>()).Which;
        lost.WorkerDeaths.Should().HaveCount(2, "the task ran again, alone, after the first death, as when a worker dies")
            .And.OnlyContain(d => d.StartsWith($"{worker.Id} its executor (process ", StringComparison.Ordinal) && d.Contains(death, StringComparison.Ordinal));
        cluster.Summary.TasksRequeued.Should().Be(1);
        var next = await cluster.SubmitAsync(TestJobs.ProcessId, 1).WaitAsync(Safety);
        next.Should().NotBe(executor, "a new executor runs the next task");
        (await cluster.SubmitAsync(TestJobs.WorkerProcessId, 2).WaitAsync(Safety)).Should().Be(daemon.ProcessId);
        daemon.HasExited.Should().BeFalse();
        cluster.Workers.Should().ContainSingle().Which.Should().Be(worker with { State = WorkerState.Ready }, "the worker stays: same id, same process");
        cluster.Summary.SyncBytes.Should().Be(synchronized, "nothing was uploaded again");
        Directory.GetFiles(Path.Combine(daemon.CachePath, "blobs")).Order().Should().Equal(blobs, "the daemon kept its cache");
    }

    [LinuxFact]
    public async Task ConnectAsync_ManyBuildsIntoOneDaemonEachHolding20MB_DaemonAndLiveExecutorsStayWithin150MiBOfTheFirst()
    {
        const int Builds = 12;
        // Without the spare, which comes and goes as builds take it, so that what is measured is what the builds leave.
        await using var daemon = await TestDaemon.StartAsync("--executor-idle-timeout", "0.2", "--no-spare-executor");
        using var build = new AppBuild("build-0");
        var after = new List<double>();
        for (var i = 0; i < Builds; i++)
        {
            build.Rebuild($"build-{i}");
            int executor;
            await using (var cluster = await Cluster.ConnectAsync([daemon.Address], TestDaemon.Token, build.Options()).WaitAsync(Safety))
            {
                executor = await cluster.SubmitAsync(TestJobs.Hold, 20_000_000).WaitAsync(Safety);
            }

            // The build's client is gone: the daemon ends its executor, and with it the 20 MB, after 0.2 s.
            daemon.Executors();
            await ProcessAssert.AllExitAsync([executor], TimeSpan.FromSeconds(30));
            after.Add(daemon.ResidentMiB());
        }

        output.WriteLine($"daemon + live executors' RSS after each of {Builds} builds: {string.Join(", ", after.Select(mb => mb.ToString("F0")))} MiB");
        (after[^1] - after[0]).Should().BeLessThan(150, "an ended environment gives back everything its tasks loaded and held");
    }

    [UnixFact]
    public async Task Executor_TerminalInterruptQuitAndHangUp_RunsOnAndTakesTheNextTask()
    {
        await using var daemon = await TestDaemon.StartAsync();
        await using var cluster = await Cluster.ConnectAsync([daemon.Address], TestDaemon.Token).WaitAsync(Safety);
        var executor = await cluster.SubmitAsync(TestJobs.ProcessId, 0).WaitAsync(Safety);

        // What a terminal's Ctrl+C, Ctrl+\ and closing send to every process of its group: an executor ends only when its daemon says so.
        foreach (var signal in new[] { "-INT", "-QUIT", "-HUP" })
        {
            using var kill = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("kill", [signal, executor.ToString()]) { UseShellExecute = false })!;
            await kill.WaitForExitAsync();
        }

        (await cluster.SubmitAsync(TestJobs.ProcessId, 1).WaitAsync(Safety)).Should().Be(executor);
        ProcessAssert.IsRunning(executor).Should().BeTrue();
    }

    [Fact]
    public async Task Executor_NewBuildOfTheSameApp_EndsTheEarlierBuildsIdleExecutorAtOnceButNotOneAClientStillUses()
    {
        const string Token = "executor-supersede-token-0123456789";
        var time = new FakeTimeProvider();
        using var cache = new TempDirectory();
        using var build = new AppBuild("build one");
        await using var host = await StartHostAsync(Token, time, cache.Path, keepSpare: false);
        var executors = host.Runtime.Executors!;
        int one;
        await using (var cluster = await Cluster.ConnectAsync([host.Address], Token, build.Options()).WaitAsync(Safety))
        {
            one = await cluster.SubmitAsync(TestJobs.ProcessId, 0).WaitAsync(Safety);
        }

        await Eventually.HoldsAsync(() => executors.Streams == 0, "the ended client's stream to let go of its executor");
        build.Rebuild("build two");
        await using var two = await Cluster.ConnectAsync([host.Address], Token, build.Options()).WaitAsync(Safety);
        var twoProcess = await two.SubmitAsync(TestJobs.ProcessId, 1).WaitAsync(Safety);

        // The fake clock moves only past the superseded grace: no idle timeout ends it, only the new build.
        time.Advance(ExecutorOptions.DefaultSupersededGrace);
        await ProcessAssert.AllExitAsync([one], TimeSpan.FromSeconds(30));
        build.Rebuild("build three");
        await using var three = await Cluster.ConnectAsync([host.Address], Token, build.Options()).WaitAsync(Safety);
        var threeProcess = await three.SubmitAsync(TestJobs.ProcessId, 2).WaitAsync(Safety);
        time.Advance(ExecutorOptions.DefaultSupersededGrace);

        threeProcess.Should().NotBe(twoProcess);
        (await two.SubmitAsync(TestJobs.ProcessId, 3).WaitAsync(Safety)).Should().Be(twoProcess, "a build a client still uses keeps its executor");
        executors.Count.Should().Be(2);
    }

    [Fact]
    public async Task Executor_NoClientForItsIdleTimeout_IsEndedAndTheNextClientOfItsEnvironmentGetsANewOne()
    {
        const string Token = "executor-idle-token-0123456789";
        var time = new FakeTimeProvider();
        using var cache = new TempDirectory();
        await using var host = await StartHostAsync(Token, time, cache.Path, keepSpare: false);
        var executors = host.Runtime.Executors!;
        int first;
        await using (var cluster = await Cluster.ConnectAsync([host.Address], Token).WaitAsync(Safety))
        {
            first = await cluster.SubmitAsync(TestJobs.ProcessId, 0).WaitAsync(Safety);
        }

        await Eventually.HoldsAsync(() => executors.Streams == 0, "the ended client's stream to let go of its executor");
        time.Advance(TimeSpan.FromSeconds(59));
        ProcessAssert.IsRunning(first).Should().BeTrue("59 s without a client is within the idle timeout");
        time.Advance(TimeSpan.FromSeconds(1));
        await ProcessAssert.AllExitAsync([first], TimeSpan.FromSeconds(30));
        executors.Count.Should().Be(0);

        await using var again = await Cluster.ConnectAsync([host.Address], Token).WaitAsync(Safety);
        var second = await again.SubmitAsync(TestJobs.ProcessId, 1).WaitAsync(Safety);
        second.Should().NotBe(first);
        await host.DisposeAsync();
        await ProcessAssert.AllExitAsync([second], TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Spare_StartsForANewBuildOnly_IsTakenWithoutReplacementAndEndsAfterTheSpareTimeoutWhenNoClientTakesIt()
    {
        const string Token = "executor-spare-token-0123456789";
        var time = new FakeTimeProvider();
        using var cache = new TempDirectory();
        await using var host = await StartHostAsync(Token, time, cache.Path, keepSpare: true);
        var executors = host.Runtime.Executors!;
        await using (var cluster = await Cluster.ConnectAsync([host.Address], Token).WaitAsync(Safety))
        {
            (await cluster.SubmitAsync(TestJobs.ProcessId, 0).WaitAsync(Safety)).Should().NotBe(Environment.ProcessId);
            executors.SpareProcessId.Should().BeNull("the spare started for the new build was bound to it, and none replaces it");
            await using var again = await Cluster.ConnectAsync([host.Address], Token).WaitAsync(Safety);
            await again.SubmitAsync(TestJobs.ProcessId, 1).WaitAsync(Safety);
            executors.SpareProcessId.Should().BeNull("a build that an executor runs already needs no spare");
        }

        executors.PrepareSpare(new string('a', 64));
        await Eventually.HoldsAsync(() => executors.SpareProcessId is not null, "the spare for a planned new build to start");
        var spare = executors.SpareProcessId!.Value;
        time.Advance(TimeSpan.FromSeconds(599));
        ProcessAssert.IsRunning(spare).Should().BeTrue("599 s untaken is within the spare timeout of 10 minutes, though past the executors' idle timeout of 60 s");
        time.Advance(TimeSpan.FromSeconds(1));
        await ProcessAssert.AllExitAsync([spare], TimeSpan.FromSeconds(30));
        executors.SpareProcessId.Should().BeNull();
    }

    [Fact]
    public async Task Spare_WhileNewBuildsComeWithinTheSpareTimeout_IsReplacedAsSoonAsOneIsTakenAndTheNextBuildIsBoundToIt()
    {
        const string Token = "executor-spare-loop-token-0123456789";
        const string Variable = "COILED_REMOTE_TEST_SPARE_LOOP";
        var time = new FakeTimeProvider();
        using var cache = new TempDirectory();
        await using var host = await StartHostAsync(Token, time, cache.Path, keepSpare: true);
        var executors = host.Runtime.Executors!;
        var options = new ClusterOptions { ForwardEnvironmentVariables = [Variable] };

        // Each value of a forwarded variable needs an executor of its own, as a new build does.
        Environment.SetEnvironmentVariable(Variable, "first");
        await using var first = await Cluster.ConnectAsync([host.Address], Token, options).WaitAsync(Safety);
        await first.SubmitAsync(TestJobs.ProcessId, 0).WaitAsync(Safety);
        var afterFirst = executors.SpareProcessId;
        time.Advance(TimeSpan.FromSeconds(599));
        Environment.SetEnvironmentVariable(Variable, "second");
        await using var second = await Cluster.ConnectAsync([host.Address], Token, options).WaitAsync(Safety);
        await second.SubmitAsync(TestJobs.ProcessId, 1).WaitAsync(Safety);
        time.Advance(ExecutorOptions.DefaultSpareReplaceDelay);
        await Eventually.HoldsAsync(() => executors.SpareProcessId is not null, "a spare to start after the second new build within the spare timeout");
        var spare = executors.SpareProcessId!.Value;
        Environment.SetEnvironmentVariable(Variable, "third");
        await using var third = await Cluster.ConnectAsync([host.Address], Token, options).WaitAsync(Safety);
        var ranIn = await third.SubmitAsync(TestJobs.ProcessId, 2).WaitAsync(Safety);
        Environment.SetEnvironmentVariable(Variable, null);

        afterFirst.Should().BeNull("one new build alone keeps no spare");
        ranIn.Should().Be(spare, "the third build was bound to the spare the second one left");
        time.Advance(ExecutorOptions.DefaultSpareReplaceDelay);
        await Eventually.HoldsAsync(() => executors.SpareProcessId is { } next && next != spare, "another spare to replace the one taken");
    }

    [LinuxFact]
    public async Task Spare_WhoseAppFilesCannotBeCopied_IsEndedAndTheBuildGetsAnExecutorStartedForIt()
    {
        const string Token = "executor-spare-copy-failure-token-0123456789";
        var time = new FakeTimeProvider();
        using var cache = new TempDirectory();
        await using var host = await StartHostAsync(Token, time, cache.Path, keepSpare: true);
        var executors = host.Runtime.Executors!;
        executors.PrepareSpare(new string('a', 64));
        await Eventually.HoldsAsync(() => executors.SpareProcessId is not null, "the spare to start");
        var spare = executors.SpareProcessId!.Value;

        // A folder where the app's deps.json goes: copying it into the spare's working directory fails.
        var work = new DirectoryInfo($"/proc/{spare}/cwd").LinkTarget!;
        Directory.CreateDirectory(Path.Combine(work, Path.GetFileNameWithoutExtension(typeof(TestJobs).Assembly.Location) + ".deps.json"));
        await using var cluster = await Cluster.ConnectAsync([host.Address], Token).WaitAsync(Safety);
        var ranIn = await cluster.SubmitAsync(TestJobs.ProcessId, 0).WaitAsync(Safety);

        ranIn.Should().NotBe(spare).And.NotBe(Environment.ProcessId);
        await ProcessAssert.AllExitAsync([spare], TimeSpan.FromSeconds(30));
        executors.SpareProcessId.Should().BeNull();
    }

    [Theory]
    [InlineData("DOTNET_COILED_REMOTE_TEST_SETTING")]
    [InlineData("SSL_CERT_FILE")]
    [InlineData("OPENSSL_CONF")]
    public async Task Spare_EnvironmentForwardingAVariableReadAtStartOrByTheWarmUp_GetsAProcessOfItsOwnAndTheSpareStays(string variable)
    {
        const string Token = "executor-spare-startup-variable-token-0123456789";
        var time = new FakeTimeProvider();
        using var cache = new TempDirectory();
        await using var host = await StartHostAsync(Token, time, cache.Path, keepSpare: true);
        var executors = host.Runtime.Executors!;
        executors.PrepareSpare(new string('a', 64));
        await Eventually.HoldsAsync(() => executors.SpareProcessId is not null, "the spare to start");
        var spare = executors.SpareProcessId!.Value;

        Environment.SetEnvironmentVariable(variable, "/dev/null");
        try
        {
            await using var cluster = await Cluster.ConnectAsync([host.Address], Token, new ClusterOptions { ForwardEnvironmentVariables = [variable] }).WaitAsync(Safety);
            var ranIn = await cluster.SubmitAsync(TestJobs.ProcessId, 0).WaitAsync(Safety);
            var seen = await cluster.SubmitAsync(TestJobs.ReadVariable, variable).WaitAsync(Safety);

            ranIn.Should().NotBe(spare, "a started runtime, or a spare's warmed-up TLS library, has read such a variable already");
            seen.Should().Be("/dev/null");
            executors.SpareProcessId.Should().Be(spare, "the spare waits for a build it can take");
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    /// <summary>A worker host in this process whose executors end after 60 s without a client, on <paramref name="time"/>.</summary>
    private static Task<WorkerHost> StartHostAsync(string token, FakeTimeProvider time, string cache, bool keepSpare) => WorkerHost.StartAsync(new WorkerHostOptions
    {
        Listen = new IPEndPoint(IPAddress.Loopback, 0),
        Token = token,
        CacheDirectory = cache,
        Slots = 2,
        TimeProvider = time,
        Executors = new ExecutorOptions
        {
            FileName = Environment.ProcessPath!,
            Arguments = [Path.Combine(AppContext.BaseDirectory, "coiled-remote-worker.dll")],
            IdleTimeout = TimeSpan.FromSeconds(60),
            KeepSpare = keepSpare,
        },
    }, CancellationToken.None);
}
