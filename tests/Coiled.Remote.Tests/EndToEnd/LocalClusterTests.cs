using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>The public API against a real 2-worker cluster of local worker processes over loopback gRPC.</summary>
public sealed class LocalClusterTests(LocalClusterFixture fixture) : IClassFixture<LocalClusterFixture>
{
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);

    private Cluster Cluster => fixture.Cluster;

    [Fact]
    public async Task StartAsync_TwoWorkers_ReportsTwoReadyWorkerProcesses()
    {
        var workers = Cluster.Workers;

        workers.Should().HaveCount(2);
        workers.Should().OnlyContain(w => w.State == WorkerState.Ready && w.Address.Host == "127.0.0.1" && w.Cores >= 1);
        workers.Select(w => w.ProcessId).Should().BeEquivalentTo(fixture.Backend.ProcessIds);
        workers.Select(w => w.Id).Should().OnlyHaveUniqueItems();
        Cluster.Cost.Should().Be(0m);
        await Task.CompletedTask;
    }

    [Fact]
    public async Task MapAsync_Squares_ReturnsResultsInInputOrder()
    {
        var items = Enumerable.Range(0, 1000).Select(i => (double)i).ToList();

        var squares = await Cluster.MapAsync(TestJobs.Square, items).WaitAsync(Safety);

        squares.Should().Equal(items.Select(x => x * x));
    }

    [LinuxFact]
    public async Task MapAsync_ItemsRunInExecutorsOfTheWorkers_NotInTheCallerNorTheDaemons()
    {
        var pids = await Cluster.MapAsync(TestJobs.ProcessId, Enumerable.Range(0, 200)).WaitAsync(Safety);
        var workers = await Cluster.MapAsync(TestJobs.WorkerProcessId, Enumerable.Range(0, 200)).WaitAsync(Safety);

        pids.Should().NotContain(Environment.ProcessId).And.NotIntersectWith(fixture.Backend.ProcessIds, "tasks run in executor processes the daemons start");
        workers.Distinct().Should().BeSubsetOf(fixture.Backend.ProcessIds);
    }

    [Fact]
    public async Task MapAsync_EmptyInput_ReturnsEmptyArray()
    {
        var results = await Cluster.MapAsync(TestJobs.Square, Array.Empty<double>()).WaitAsync(Safety);

        results.Should().BeEmpty();
    }

    [Fact]
    public async Task MapAsync_TwoParameterMethod_TakesTuplesInOrder()
    {
        var items = Enumerable.Range(0, 100).Select(i => ((double)i, 0.5)).ToList();

        var sums = await Cluster.MapAsync(TestJobs.Add, items).WaitAsync(Safety);

        sums.Should().Equal(items.Select(p => p.Item1 + 0.5));
    }

    [Fact]
    public async Task SubmitAsync_FourArguments_ArriveInPlace()
    {
        var joined = await Cluster.SubmitAsync(TestJobs.Join, "a", 2, true, 1.5).WaitAsync(Safety);

        joined.Should().Be("a|2|True|1.5");
    }

    [Fact]
    public async Task SubmitAsync_OverloadsDifferingOnlyByTrailingToken_EachRunsItsOwnOverload()
    {
        // TestJobs.Tag alone is ambiguous between the two overloads (CS0121); the delegate type picks one.
        var plain = await Cluster.SubmitAsync((Func<int, string>)TestJobs.Tag, 1).WaitAsync(Safety);
        var cancellable = await Cluster.SubmitAsync((Func<int, CancellationToken, string>)TestJobs.Tag, 2).WaitAsync(Safety);

        plain.Should().Be("plain 1");
        cancellable.Should().Be("cancellable 2 True");
    }

    [Fact]
    public async Task SubmitAsync_NoArguments_ReturnsResult()
    {
        var answer = await Cluster.SubmitAsync(TestJobs.Answer).WaitAsync(Safety);

        answer.Should().Be(42);
    }

    [Fact]
    public async Task SubmitAsync_Record_RoundTripsWithoutAttributes()
    {
        var moved = await Cluster.SubmitAsync(TestJobs.Move, new Point(1, 2), 3.0).WaitAsync(Safety);

        moved.Should().Be(new Point(4, 2));
    }

    [Fact]
    public async Task SubmitAsync_RecordWithCollectionsEnumTupleAndBytes_RoundTrips()
    {
        var shape = new Shape("box", ["a"], new Dictionary<string, int> { ["x"] = 1, ["y"] = 2 }, Color.Red, [1, 2, 3], (7, "seven"), [4, 5]);

        var described = await Cluster.SubmitAsync(TestJobs.Describe, shape).WaitAsync(Safety);

        described.Name.Should().Be("BOX");
        described.Tags.Should().Equal("a", "seen");
        described.Counts.Should().BeEquivalentTo(new Dictionary<string, int> { ["x"] = 2, ["y"] = 4 });
        described.Color.Should().Be(Color.Blue);
        described.Data.Should().Equal(3, 2, 1);
        described.Pair.Should().Be((7, "seven"));
        described.Numbers.Should().Equal(4, 5);
    }

    [Fact]
    public async Task SubmitAsync_AsyncMethods_ReturnTheirResults()
    {
        (await Cluster.SubmitAsync(TestJobs.LengthAsync, "hello").WaitAsync(Safety)).Should().Be(5);
        (await Cluster.SubmitAsync(TestJobs.DoubleAsync, 21).WaitAsync(Safety)).Should().Be(42);
        (await Cluster.MapAsync(TestJobs.LengthAsync, ["a", "bb", "ccc"]).WaitAsync(Safety)).Should().Equal(1, 2, 3);
    }

    [Fact]
    public async Task SubmitAsync_VoidAndTaskMethods_RunOnTheWorker()
    {
        using var folder = new TempDirectory();
        var sync = Path.Combine(folder.Path, "sync.txt");
        var async = Path.Combine(folder.Path, "async.txt");

        await Cluster.SubmitAsync(TestJobs.Touch, sync).WaitAsync(Safety);
        await Cluster.SubmitAsync(TestJobs.TouchAsync, async).WaitAsync(Safety);
        await Cluster.MapAsync(TestJobs.Touch, [Path.Combine(folder.Path, "m1"), Path.Combine(folder.Path, "m2")]).WaitAsync(Safety);

        File.ReadAllText(sync).Should().Be("touched");
        File.ReadAllText(async).Should().Be("touched async");
        File.Exists(Path.Combine(folder.Path, "m1")).Should().BeTrue();
        File.Exists(Path.Combine(folder.Path, "m2")).Should().BeTrue();
    }

    [Fact]
    public async Task MapAsync_MethodThrows_RemoteExceptionNamesTypeMessageWorkerAndItem()
    {
        var items = Enumerable.Range(0, 20).Select(i => (double)i);

        var act = () => Cluster.MapAsync(TestJobs.FailOnSeven, items).WaitAsync(Safety);

        var thrown = (await act.Should().ThrowAsync<RemoteException>()).Which;
        thrown.RemoteType.Should().Be("System.InvalidOperationException");
        thrown.RemoteMessage.Should().Be("seven is not allowed (7)");
        thrown.ItemIndex.Should().Be(7);
        thrown.Method.Should().Be("TestJobs.FailOnSeven");
        thrown.WorkerId.Should().BeOneOf(Cluster.Workers.Select(w => w.Id));
        thrown.RemoteStackTrace.Should().Contain("FailOnSeven");
        thrown.InnerException.Should().BeNull();
        thrown.Message.Should().Be($"TestJobs.FailOnSeven threw System.InvalidOperationException on worker {thrown.WorkerId} (item 7): seven is not allowed (7)");
    }

    [Fact]
    public async Task MapAsync_AfterAFailure_ClusterKeepsServing()
    {
        await FluentActions.Awaiting(() => Cluster.SubmitAsync(TestJobs.FailOnSeven, 7.0)).Should().ThrowAsync<RemoteException>();

        var results = await Cluster.MapAsync(TestJobs.Square, [2.0, 3.0]).WaitAsync(Safety);

        results.Should().Equal(4.0, 9.0);
    }

    [Fact]
    public async Task SubmitAsync_MethodWithRetries_SucceedsAfterTwoFailures()
    {
        using var folder = new TempDirectory();
        var counter = Path.Combine(folder.Path, "attempts");

        var attempts = await Cluster.SubmitAsync(TestJobs.FlakyThenSucceeds, counter, 2).WaitAsync(Safety);

        attempts.Should().Be(3);
    }

    [Fact]
    public async Task SubmitAsync_MethodFailsMoreThanItsRetries_ThrowsTheLastFailure()
    {
        using var folder = new TempDirectory();
        var counter = Path.Combine(folder.Path, "attempts");

        var act = () => Cluster.SubmitAsync(TestJobs.FlakyThenSucceeds, counter, 5).WaitAsync(Safety);

        (await act.Should().ThrowAsync<RemoteException>()).Which.RemoteMessage.Should().Be("attempt 3 fails");
        File.ReadAllText(counter).Should().Be("3");
    }

    [Fact]
    public async Task SubmitAsync_CallerCancels_MethodTokenIsCancelledOnTheWorker()
    {
        using var folder = new TempDirectory();
        var marker = Path.Combine(folder.Path, "cancelled");
        using var cancel = new CancellationTokenSource();

        var call = Cluster.SubmitAsync(TestJobs.WaitForCancellationAsync, marker, cancel.Token);
        (await FileAppearsAsync(marker + ".running")).Should().BeTrue("the method runs on a worker before the call is cancelled");
        cancel.Cancel();

        await FluentActions.Awaiting(() => call.WaitAsync(Safety)).Should().ThrowAsync<OperationCanceledException>();
        (await FileAppearsAsync(marker)).Should().BeTrue("the worker must cancel the method's CancellationToken");
        (await Cluster.SubmitAsync(TestJobs.Square, 3.0).WaitAsync(Safety)).Should().Be(9.0);
    }

    [Fact]
    public async Task MapAsync_AlreadyCancelledToken_ThrowsWithoutRunning()
    {
        var act = () => Cluster.MapAsync(TestJobs.Square, [1.0], new CancellationToken(canceled: true));

        await act.Should().ThrowAsync<OperationCanceledException>();
    }

    [Fact]
    public async Task MapAsync_NuGetDependencyTheWorkerNeverHad_IsSynchronizedAndLoads()
    {
        var results = await Cluster.MapAsync(TestJobs.Humanize, ["PascalCaseInput", "AnotherOne"]).WaitAsync(Safety);

        results.Should().Equal("Pascal case input", "Another one");
    }

    [UnixFact]
    public async Task SubmitAsync_ScriptShippedExecutableWithTheApp_RunsOnTheWorker()
    {
        var output = await Cluster.SubmitAsync(TestJobs.RunShippedTool, "an argument").WaitAsync(Safety);

        output.Should().Be("hello from hello.sh with an argument");
    }

    [Fact]
    public async Task ForwardEnvironmentVariables_NamedVariable_IsVisibleToTheMethod()
    {
        var value = await Cluster.SubmitAsync(TestJobs.ReadVariable, LocalClusterFixture.ForwardedVariable).WaitAsync(Safety);

        value.Should().Be("forwarded-value");
    }

    // The build refuses delegates held in variables (CR0013); these two tests check the run-time refusal behind it.
#pragma warning disable CR0013
    [Fact]
    public async Task MapAsync_LambdaInADelegateVariable_ThrowsArgumentExceptionNamingTheFix()
    {
        Func<double, double> lambda = x => x + 1;

        var act = () => Cluster.MapAsync(lambda, [1.0]);

        (await act.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("only static methods marked [Remote]");
    }

    [Fact]
    public async Task MapAsync_MethodWithoutRemoteAttribute_ThrowsArgumentExceptionNamingTheMethod()
    {
        Func<double, double> method = TestJobs.NotRemote;

        var act = () => Cluster.MapAsync(method, [1.0]);

        (await act.Should().ThrowAsync<ArgumentException>()).Which.Message.Should()
            .StartWith("Coiled.Remote.Tests.Support.TestJobs.NotRemote is not marked [Remote].");
    }
#pragma warning restore CR0013

    [Fact]
    public async Task MapAsync_LargeByteArrays_ArriveWhole()
    {
        var payloads = new[] { new byte[3 * 1024 * 1024], new byte[1], Array.Empty<byte>() };

        var lengths = await Cluster.MapAsync(TestJobs.Length, payloads).WaitAsync(Safety);

        lengths.Should().Equal(3 * 1024 * 1024, 1, 0);
    }

    [Fact]
    public async Task MapAsync_ManyArgumentsAroundTheBulkThreshold_EachArrivesWhole()
    {
        var random = new Random(11);
        var threshold = Coiled.Remote.Transport.BulkFrame.ThresholdBytes;
        var payloads = new[] { threshold - 64, threshold - 1, threshold, threshold + 1, 2 * 1024 * 1024, 17, 5 * 1024 * 1024 }
            .Select(size =>
            {
                var bytes = new byte[size];
                random.NextBytes(bytes);
                return bytes;
            })
            .ToList();

        var hashes = await Cluster.MapAsync(TestJobs.Sha256, payloads).WaitAsync(Safety);

        hashes.Should().Equal(payloads.Select(p => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(p))));
    }

    [Fact]
    public async Task MapAsync_AfterACallFailedWithLargeArgumentsStillInFlight_SeesExactlyItsOwnBytes()
    {
        // A call's pooled argument buffers go back to the pool when it ends, but sends and tasks still under way keep
        // theirs until they are done: the calls after it, which reuse those arrays, must each see their own bytes.
        var random = new Random(21);
        List<byte[]> Payloads(int count, int failing) => [.. Enumerable.Range(0, count).Select(i =>
        {
            var bytes = new byte[300 * 1024 + i];
            random.NextBytes(bytes);
            bytes[0] = i == failing ? (byte)0 : (byte)1;
            return bytes;
        })];

        for (var round = 0; round < 4; round++)
        {
            var failing = Payloads(24, failing: 1);
            var good = Payloads(24, failing: -1);

            var failed = () => Cluster.MapAsync(TestJobs.Sha256UnlessFirstByteIsZero, failing).WaitAsync(Safety);
            var next = Cluster.MapAsync(TestJobs.Sha256UnlessFirstByteIsZero, good).WaitAsync(Safety);

            (await failed.Should().ThrowAsync<RemoteException>()).Which.Message.Should().Contain("the first byte is zero");
            (await next).Should().Equal(good.Select(p => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(p))));
        }
    }

    [Fact]
    public async Task MapAsync_LargeArgumentsQueuedOnBusyWorkers_EachTaskSeesItsOwnBytes()
    {
        // Slow tasks keep several bulk-data batches queued on each worker while more arrive: a batch's pooled receive
        // buffer must stay with its tasks until the last of them has read its arguments.
        var random = new Random(23);
        var payloads = Enumerable.Range(0, 32).Select(i =>
        {
            var bytes = new byte[200 * 1024 + i];
            random.NextBytes(bytes);
            return (bytes, 20);
        }).ToList();

        var hashes = await Cluster.MapAsync(TestJobs.Sha256AfterPause, payloads).WaitAsync(Safety);

        hashes.Should().Equal(payloads.Select(p => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(p.bytes))));
    }

    [Fact]
    public async Task MapAsync_SmallAndLargeResultsMixed_EachComesBackWholeInOrder()
    {
        // Large results go alone on the bulk-data connection; one that follows small results in a batch is copied in.
        var threshold = Coiled.Remote.Transport.BulkFrame.ThresholdBytes;
        var sizes = new[] { 10, threshold * 3, 1, threshold - 40, threshold + 1, 2 * 1024 * 1024, 0, 5, threshold * 2, 7 }
            .SelectMany(size => Enumerable.Repeat(size, 3))
            .ToList();

        var results = await Cluster.MapAsync(TestJobs.RandomBytes, sizes.Select((size, i) => (size, i))).WaitAsync(Safety);

        results.Select(r => r.Length).Should().Equal(sizes);
        for (var i = 0; i < sizes.Count; i++)
        {
            var expected = new byte[sizes[i]];
            new Random(i).NextBytes(expected);
            results[i].Should().Equal(expected, $"result {i} ({sizes[i]} bytes) must be its own");
        }
    }

    [Fact]
    public async Task MapAsync_HundredThousandItems_EachResultOnceInOrder()
    {
        var results = await Cluster.MapAsync(TestJobs.Identity, Enumerable.Range(0, 100_000)).WaitAsync(Safety);

        results.Should().Equal(Enumerable.Range(0, 100_000));
    }

    [Fact]
    public async Task MapAsync_ConcurrentCalls_EachGetsItsOwnResults()
    {
        var calls = Enumerable.Range(0, 8).Select(c => Cluster.MapAsync(TestJobs.Identity, Enumerable.Range(c * 1000, 1000))).ToList();

        var results = await Task.WhenAll(calls).WaitAsync(Safety);

        for (var c = 0; c < 8; c++)
        {
            results[c].Should().Equal(Enumerable.Range(c * 1000, 1000));
        }
    }

    /// <summary>Waits (a generous safety net, not a measurement) until a file exists.</summary>
    private static async Task<bool> FileAppearsAsync(string path)
    {
        var deadline = DateTime.UtcNow + Safety;
        while (!File.Exists(path) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        return File.Exists(path);
    }
}
