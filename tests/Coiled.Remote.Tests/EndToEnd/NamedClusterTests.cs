using System.Diagnostics;
using Coiled.Remote.KeptClusters;
using Coiled.Remote.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>
/// Named clusters with a keep-alive (<see cref="ClusterOptions.Name"/>, <see cref="ClusterOptions.KeepAlive"/>): their
/// local workers outlive the cluster and its process, and the next start of that name attaches to them.
/// </summary>
public sealed class NamedClusterTests
{
    private static readonly TimeSpan KeepAlive = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task StartAsync_SameNameAfterTheFirstWasDisposed_AttachesToTheSameRunningWorkersAndSendsNothing()
    {
        using var kept = new KeptWorkers();
        using var logs = new CapturingLoggerProvider();
        using var logging = logs.CreateFactory();
        IReadOnlyList<int> first;
        await using (var cluster = await Cluster.StartAsync(kept.Options("loop", KeepAlive, logging)))
        {
            first = kept.Track(cluster.Workers.Select(w => w.ProcessId));
            (await cluster.SubmitAsync(TestJobs.Square, 3.0)).Should().Be(9.0);
        }

        first.Should().HaveCount(2).And.OnlyContain(pid => ProcessAssert.IsRunning(pid), "a kept cluster's workers run on after it is disposed");

        await using (var again = await Cluster.StartAsync(kept.Options("loop", KeepAlive, logging)))
        {
            again.Workers.Select(w => w.ProcessId).Order().Should().Equal(first);
            again.LastSync.BlobsSent.Should().Be(0, "nothing changed since the workers last ran this application");
            (await again.SubmitAsync(TestJobs.Square, 4.0)).Should().Be(16.0);
        }

        var attached = logs.Entries.Should().ContainSingle(e => e.EventId == 4151).Subject;
        attached.Values["Name"].Should().Be("loop");
        attached.Values["Workers"].Should().Be(2);
        logs.Entries.Where(e => e.EventId == 4154).Should().HaveCount(2, "each disposal says the workers are kept and how to stop them");
    }

    [Fact]
    public async Task StartAsync_AfterAOneFileRebuild_SendsOnlyThatFileAndTheNewBuildRuns()
    {
        using var kept = new KeptWorkers();
        using var app = new AppBuild("build one");
        await using (var cluster = await Cluster.StartAsync(kept.Options("rebuilt", KeepAlive, applicationDirectory: app.Path)))
        {
            kept.Track(cluster.Workers.Select(w => w.ProcessId));
            (await cluster.SubmitAsync(TestJobs.ReadAppFile, "build.txt")).Should().Be("build one");
        }

        app.Rebuild("build two");
        await using var again = await Cluster.StartAsync(kept.Options("rebuilt", KeepAlive, applicationDirectory: app.Path));

        again.LastSync.BlobsSent.Should().Be(1, "only build.txt changed");
        (await again.MapAsync(TestJobs.ReadAppFile, ["build.txt", "build.txt", "build.txt", "build.txt"])).Should().OnlyContain(text => text == "build two");
    }

    [Fact]
    public async Task StartAsync_KeepAliveZeroOnARunningName_AttachesAndItsDisposalStopsTheWorkersAndForgetsTheName()
    {
        using var kept = new KeptWorkers();
        IReadOnlyList<int> workers;
        await using (var cluster = await Cluster.StartAsync(kept.Options("once", KeepAlive)))
        {
            workers = kept.Track(cluster.Workers.Select(w => w.ProcessId));
        }

        await using (var last = await Cluster.StartAsync(kept.Options("once", TimeSpan.Zero)))
        {
            last.Workers.Select(w => w.ProcessId).Order().Should().Equal(workers);
        }

        await ProcessAssert.AllExitAsync(workers, Safety);
        new ClusterRegistry(kept.RegistryPath).Read("once").Should().BeNull();
    }

    [Fact]
    public async Task StartAsync_NamedWithoutKeepAlive_StopsItsWorkersWhenDisposedLikeAnyCluster()
    {
        using var kept = new KeptWorkers();
        IReadOnlyList<int> workers;
        await using (var cluster = await Cluster.StartAsync(kept.Options("plain", TimeSpan.Zero)))
        {
            workers = kept.Track(cluster.Workers.Select(w => w.ProcessId));
            new ClusterRegistry(kept.RegistryPath).Read("plain")!.Workers.Should().HaveCount(2, "a running named cluster is listed");
        }

        await ProcessAssert.AllExitAsync(workers, Safety);
        new ClusterRegistry(kept.RegistryPath).Names().Should().BeEmpty();
    }

    [Fact]
    public async Task StartAsync_RegisteredWorkersAreGone_StartsANewClusterAndSaysSo()
    {
        using var kept = new KeptWorkers();
        using var logs = new CapturingLoggerProvider();
        using var logging = logs.CreateFactory();
        IReadOnlyList<int> gone;
        await using (var cluster = await Cluster.StartAsync(kept.Options("stale", KeepAlive, logging)))
        {
            gone = kept.Track(cluster.Workers.Select(w => w.ProcessId));
        }

        foreach (var pid in gone)
        {
            using var process = Process.GetProcessById(pid);
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        await using var fresh = await Cluster.StartAsync(kept.Options("stale", KeepAlive, logging));
        var workers = kept.Track(fresh.Workers.Select(w => w.ProcessId));

        workers.Should().HaveCount(2).And.NotIntersectWith(gone);
        (await fresh.SubmitAsync(TestJobs.Square, 5.0)).Should().Be(25.0);
        var said = logs.Entries.Should().ContainSingle(e => e.EventId == 4152).Subject;
        said.Level.Should().Be(LogLevel.Warning);
        said.Message.Should().Contain("stale").And.Contain("none of its 2 worker(s) runs any more").And.Contain("starting a new one");
    }

    [Fact]
    public async Task StartAsync_OneOfTwoRegisteredWorkersIsGone_AttachesToTheOtherAndStartsOneMoreForTheWorkersAskedFor()
    {
        using var kept = new KeptWorkers();
        using var logs = new CapturingLoggerProvider();
        using var logging = logs.CreateFactory();
        IReadOnlyList<int> workers;
        await using (var cluster = await Cluster.StartAsync(kept.Options("half", KeepAlive, logging)))
        {
            workers = kept.Track(cluster.Workers.Select(w => w.ProcessId));
        }

        using (var process = Process.GetProcessById(workers[0]))
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        await using var again = await Cluster.StartAsync(kept.Options("half", KeepAlive, logging));
        var now = kept.Track(again.Workers.Where(w => w.State == WorkerState.Ready).Select(w => w.ProcessId));

        now.Should().HaveCount(2).And.Contain(workers[1]).And.NotContain(workers[0]);
        logs.Entries.Should().ContainSingle(e => e.EventId == 4153).Which.Message.Should().Contain("1 of the 2 worker(s) of named cluster half no longer run");
        (await again.MapAsync(TestJobs.Square, [1.0, 2.0, 3.0])).Should().Equal(1.0, 4.0, 9.0);
    }

    [Fact]
    public async Task ScaleAsync_KeptCluster_RecordsTheAddedWorkerBeforeDisposalSoThatAKilledCallerLeavesNoneUnlisted()
    {
        using var kept = new KeptWorkers();
        await using var cluster = await Cluster.StartAsync(kept.Options("grown", KeepAlive));
        kept.Track(cluster.Workers.Select(w => w.ProcessId));

        await cluster.ScaleAsync(3).WaitAsync(Safety);
        var workers = kept.Track(cluster.Workers.Select(w => w.ProcessId));

        var registry = new ClusterRegistry(kept.RegistryPath);
        await Eventually.HoldsAsync(() => registry.Read("grown")!.Workers.Count == 3, "the added worker to be in the registry");
        registry.Read("grown")!.Workers.Select(w => w.ProcessId!.Value).Order().Should().Equal(workers);
    }

    [Fact]
    public async Task StartAsync_CallerKilledWithSigkill_KeptWorkersRunOnAndTheNextStartAttachesToThem()
    {
        using var kept = new KeptWorkers();
        IReadOnlyList<int> workers;
        using (var caller = StartCaller("survivor", kept.CachePath, "wait"))
        {
            try
            {
                var (pids, result) = await ReadCallerAsync(caller);
                workers = kept.Track(pids);
                result.Should().Be("7");
            }
            finally
            {
                caller.Kill();
                await caller.WaitForExitAsync();
            }
        }

        workers.Should().HaveCount(2).And.OnlyContain(pid => ProcessAssert.IsRunning(pid), "a kept cluster's workers outlive a caller killed with SIGKILL");
        await using var again = await Cluster.StartAsync(kept.Options("survivor", KeepAlive));

        again.Workers.Select(w => w.ProcessId).Order().Should().Equal(workers);
        (await again.SubmitAsync(TestJobs.Square, 6.0)).Should().Be(36.0);
    }

    [Fact]
    public async Task StartAsync_TwoProcessesAttachAtOnce_BothRunTheirTasksOnTheSameWorkers()
    {
        using var kept = new KeptWorkers();
        IReadOnlyList<int> workers;
        await using (var cluster = await Cluster.StartAsync(kept.Options("shared", KeepAlive)))
        {
            workers = kept.Track(cluster.Workers.Select(w => w.ProcessId));
        }

        using var one = StartCaller("shared", kept.CachePath, "dispose");
        using var two = StartCaller("shared", kept.CachePath, "dispose");
        var outcomes = await Task.WhenAll(ReadCallerAsync(one), ReadCallerAsync(two));
        await Task.WhenAll(one.WaitForExitAsync(), two.WaitForExitAsync()).WaitAsync(Safety);

        outcomes.Should().OnlyContain(o => o.Result == "7" && o.Workers.SequenceEqual(workers));
        one.ExitCode.Should().Be(0);
        two.ExitCode.Should().Be(0);
        workers.Should().OnlyContain(pid => ProcessAssert.IsRunning(pid));
    }

    [Fact]
    public async Task StartAsync_RegisteredTokenTheWorkersRefuse_FailsLeavingThemRunningAndStopStopsThem()
    {
        using var kept = new KeptWorkers();
        IReadOnlyList<int> workers;
        await using (var cluster = await Cluster.StartAsync(kept.Options("refused", KeepAlive)))
        {
            workers = kept.Track(cluster.Workers.Select(w => w.ProcessId));
        }

        var registry = new ClusterRegistry(kept.RegistryPath);
        registry.Write(registry.Read("refused")! with { Token = "a-token-these-workers-never-had" });

        var start = () => Cluster.StartAsync(kept.Options("refused", KeepAlive));

        (await start.Should().ThrowAsync<ClusterStartException>()).Which.Message.Should()
            .StartWith("Could not attach to named cluster 'refused' (2 running worker(s)): ")
            .And.EndWith("Its workers were left running: stop them with `coiled-remote stop refused` and start again for a new cluster of that name.");
        workers.Should().OnlyContain(pid => ProcessAssert.IsRunning(pid));
        (await NamedClusters.StopAsync(registry, kept.CachePath, "refused", null, CancellationToken.None)).Should().Be(2);
        workers.Should().OnlyContain(pid => !ProcessAssert.IsRunning(pid), "workers that refuse the stop request are killed, and checked gone");
        registry.Read("refused").Should().BeNull();
    }

    [UnixFact]
    public async Task StartAsync_ApplicationThatCannotBeSynchronized_FailsWithTheSyncErrorAndLeavesTheWorkersForTheNextRun()
    {
        using var kept = new KeptWorkers();
        using var app = new AppBuild("unreadable");
        File.CreateSymbolicLink(Path.Combine(app.Path, "gone.dll"), Path.Combine(app.Path, "no-such-file.dll"));
        IReadOnlyList<int> workers;
        await using (var cluster = await Cluster.StartAsync(kept.Options("broken-build", KeepAlive)))
        {
            workers = kept.Track(cluster.Workers.Select(w => w.ProcessId));
        }

        var start = () => Cluster.StartAsync(kept.Options("broken-build", KeepAlive, applicationDirectory: app.Path));

        await start.Should().ThrowAsync<EnvironmentSyncException>();
        workers.Should().OnlyContain(pid => ProcessAssert.IsRunning(pid));
        await using var again = await Cluster.StartAsync(kept.Options("broken-build", KeepAlive));
        again.Workers.Select(w => w.ProcessId).Order().Should().Equal(workers);
    }

    [Fact]
    public async Task StartAsync_NameRegisteredForAnotherKindOfBackend_FailsNamingBothAndHowToStopIt()
    {
        using var kept = new KeptWorkers();
        new ClusterRegistry(kept.RegistryPath).Write(new RegisteredCluster
        {
            Name = "elsewhere",
            Backend = "EC2 in eu-west-1",
            Token = "not-this-one",
            StartedAt = DateTimeOffset.UtcNow,
            AttachedAt = DateTimeOffset.UtcNow,
            KeepAlive = KeepAlive,
            Workers = [new RegisteredWorker(new Uri("https://10.0.0.5:7400")) { InstanceId = "i-0123456789abcdef0" }],
        });

        var start = () => Cluster.StartAsync(kept.Options("elsewhere", KeepAlive));

        (await start.Should().ThrowAsync<ClusterStartException>()).Which.Message.Should()
            .Be("Named cluster 'elsewhere' runs on EC2 in eu-west-1; this start asks for local processes. Stop it first with `coiled-remote stop elsewhere`, or give this cluster another name.");
    }

    [Fact]
    public async Task StartAsync_KeptRegistryEntry_IsTheUsersAloneAndNoLogLineHoldsTheToken()
    {
        using var kept = new KeptWorkers();
        using var logs = new CapturingLoggerProvider();
        using var logging = logs.CreateFactory();
        await using (var cluster = await Cluster.StartAsync(kept.Options("private", KeepAlive, logging)))
        {
            kept.Track(cluster.Workers.Select(w => w.ProcessId));
        }

        var entry = new ClusterRegistry(kept.RegistryPath).Read("private")!;
        entry.Token.Should().HaveLength(43);
        entry.ToString().Should().NotContain(entry.Token).And.Contain("Token = ***");
        logs.Entries.Should().NotContain(e => e.Message.Contains(entry.Token, StringComparison.Ordinal));
        if (!OperatingSystem.IsWindows())
        {
            File.GetUnixFileMode(kept.RegistryPath).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            File.GetUnixFileMode(Path.Combine(kept.RegistryPath, "private.json")).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }

    private static Process StartCaller(string name, string cache, string then)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { Path.Combine(AppContext.BaseDirectory, "coiled-remote-test-caller.dll"), "named", name, cache, ((int)KeepAlive.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture), then })
        {
            start.ArgumentList.Add(argument);
        }

        return Process.Start(start)!;
    }

    private static async Task<(IReadOnlyList<int> Workers, string Result)> ReadCallerAsync(Process caller)
    {
        using var timeout = new CancellationTokenSource(Safety);
        IReadOnlyList<int> workers = [];
        while (await caller.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("workers ", StringComparison.Ordinal))
            {
                workers = [.. line["workers ".Length..].Split(' ').Select(int.Parse)];
            }
            else if (line.StartsWith("result ", StringComparison.Ordinal))
            {
                return (workers, line["result ".Length..]);
            }
        }

        throw new InvalidOperationException($"The caller exited before its result: {await caller.StandardError.ReadToEndAsync()}");
    }
}
