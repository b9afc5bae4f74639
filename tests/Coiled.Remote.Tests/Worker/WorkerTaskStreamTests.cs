using System.Net;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Coiled.Remote.Worker;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using MessagePack;

namespace Coiled.Remote.Tests.Worker;

/// <summary>The Run stream driven by hand: every task gets exactly one outcome, of the right kind.</summary>
public sealed class WorkerTaskStreamTests : IAsyncLifetime
{
    private const string Token = "stream-test-token-0123456789";
    private const string SquareId = "Coiled.Remote.Tests.Support.TestJobs.Square(System.Double)";
    private static readonly string TestAssembly = typeof(TestJobs).Assembly.GetName().Name!;
    private TestWorker _worker = null!;

    public async Task InitializeAsync() => _worker = await TestWorker.StartAsync(Token, hostEnvironment: true);

    public async Task DisposeAsync() => await _worker.DisposeAsync();

    [Fact]
    public async Task Run_GoodUnknownAndHostileTasks_EachGetsExactlyOneOutcomeOfItsKind()
    {
        var replies = await RunAsync(
            Batch(TestAssembly, SquareId, [1, 2], MessagePackSerializer.Serialize(new object[] { 3.0 }), MessagePackSerializer.Serialize(new object[] { 4.0 })),
            Batch(TestAssembly, "Coiled.Remote.Tests.Support.TestJobs.Missing(System.Int32)", [3], MessagePackSerializer.Serialize(new object[] { 1 })),
            Batch("No.Such.Assembly", SquareId, [4], MessagePackSerializer.Serialize(new object[] { 1.0 })),
            Batch(TestAssembly, SquareId, [5], MessagePackSerializer.Serialize(new object[] { "not a number" })),
            Batch(TestAssembly, SquareId, [6], MessagePackSerializer.Serialize(new object[] { 1.0, 2.0 })),
            Batch(TestAssembly, SquareId, [7, 8], [0xdd, 0xff, 0xff, 0xff, 0x7f]));

        var results = replies.SelectMany(r => r.TaskIds.Zip(Values(r))).ToDictionary(p => p.First, p => p.Second);
        var failures = replies.SelectMany(r => r.Failures).ToDictionary(f => f.TaskId);

        results.Should().BeEquivalentTo(new Dictionary<ulong, double> { [1] = 9.0, [2] = 16.0 });
        failures.Keys.Should().BeEquivalentTo(new ulong[] { 3, 4, 5, 6, 7, 8 });
        failures[3].Kind.Should().Be(FailureKind.UnknownMethod);
        failures[3].Message.Should().StartWith($"Assembly {TestAssembly} on this worker has no [Remote] method Coiled.Remote.Tests.Support.TestJobs.Missing(System.Int32).");
        failures[4].Kind.Should().Be(FailureKind.UnknownMethod);
        failures[4].Message.Should().StartWith("Assembly No.Such.Assembly could not be loaded");
        failures[5].Kind.Should().Be(FailureKind.BadArguments);
        failures[5].Message.Should().StartWith($"Argument 0 of {SquareId} could not be read as System.Double");
        failures[6].Kind.Should().Be(FailureKind.BadArguments);
        failures[6].Message.Should().Be($"{SquareId} takes 1 argument(s) but the task carried 2.");
        failures[7].Kind.Should().Be(FailureKind.BadArguments);
        failures[8].Kind.Should().Be(FailureKind.BadArguments);
    }

    [Theory]
    [InlineData("../../outside")]
    [InlineData("/etc/passwd")]
    [InlineData("..")]
    [InlineData("App, Version=1.0.0.0")]
    public async Task Run_AssemblyNameThatIsNotASimpleName_FailsItsTasksAsUnknownMethodBeforeAnyFileIsOpened(string assembly)
    {
        var replies = await RunAsync(Batch(assembly, SquareId, [1], MessagePackSerializer.Serialize(new object[] { 1.0 })));

        var failure = replies.SelectMany(r => r.Failures).Should().ContainSingle().Which;
        failure.Kind.Should().Be(FailureKind.UnknownMethod);
        failure.Message.Should().Be($"'{assembly}' is not a simple assembly name (like 'MyApp' or 'MyApp.Jobs'): no path, no version, no culture.");
    }

    [Fact]
    public async Task Run_BulkBatch_KeepsItsPooledBufferUntilTheLastTaskReadItThenReturnsIt()
    {
        using var gate = new TaskGate();
        var stub = Coiled.Remote.Stubs.StubCatalog.Resolve((Func<byte[], int, string, CancellationToken, Task<string>>)TestJobs.Sha256WhenReleasedAsync);
        var payloads = Enumerable.Range(0, 6).Select(i => Enumerable.Range(0, 1000 + i).Select(b => (byte)(b * i)).ToArray()).ToList();
        var arguments = payloads.SelectMany((p, i) => MessagePackSerializer.Serialize(new object[] { p, i, gate.Folder })).ToArray();
        var buffer = RentedBuffer.Rent(arguments.Length);
        arguments.CopyTo(buffer.Array, 0);
        _worker.Host.Runtime.Bulk.Deliver(77, new BulkPayload(buffer, arguments.Length));
        var batch = Batch(TestAssembly, stub.Id, [.. Enumerable.Range(1, 6).Select(i => (ulong)i)]);
        batch.BulkId = 77;

        var auth = new CallOptions(new Metadata { { WireLimits.AuthorizationHeader, WireLimits.BearerPrefix + Token } });
        using var run = new Coiled.Remote.Transport.Protocol.Worker.WorkerClient(_worker.Channel).Run(auth);
        await run.RequestStream.WriteAsync(new RunRequest { Open = new OpenEnvironment() });
        (await run.ResponseStream.MoveNext()).Should().BeTrue();
        await run.RequestStream.WriteAsync(new RunRequest { Tasks = batch });

        // Two slots, six tasks that hold until released: two run and four wait in the queue, all on the batch's buffer.
        await gate.WaitUntilAsync(started => started.Count >= 2, "both slots running a task of the batch");
        gate.Started().Should().HaveCount(2, "the worker has two slots, so four tasks are queued");
        buffer.Array.Should().NotBeNull("tasks still queued hold the batch's buffer");
        gate.Release();

        var hashes = new Dictionary<ulong, string>();
        await run.RequestStream.CompleteAsync();
        while (await run.ResponseStream.MoveNext())
        {
            foreach (var (id, hash) in run.ResponseStream.Current.Results.TaskIds.Zip(Strings(run.ResponseStream.Current.Results)))
            {
                hashes[id] = hash;
            }
        }

        hashes.OrderBy(h => h.Key).Select(h => h.Value).Should().Equal(payloads.Select(p => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(p))));
        var use = () => buffer.Array;
        use.Should().Throw<ObjectDisposedException>("the last task let go of the buffer");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Run_LargeResult_ComesBackOnTheClientsBulkConnectionOrElseInTheBatch(bool clientHasTheChannel)
    {
        const string RandomBytesId = "Coiled.Remote.Tests.Support.TestJobs.RandomBytes(System.Int32,System.Int32)";
        var auth = new CallOptions(new Metadata { { WireLimits.AuthorizationHeader, WireLimits.BearerPrefix + Token } });
        var client = new Coiled.Remote.Transport.Protocol.Worker.WorkerClient(_worker.Channel);
        var hello = await client.HelloAsync(new HelloRequest { ProtocolVersion = ProtocolVersion.Current }, auth);
        await using var bulk = new BulkChannel("127.0.0.1", hello.BulkPort, hello.BulkLocalName, Token, certificateThumbprint: null);
        await bulk.ConnectAsync(CancellationToken.None);
        using var run = client.Run(auth);
        await run.RequestStream.WriteAsync(new RunRequest { Open = new OpenEnvironment { ResultChannel = clientHasTheChannel ? bulk.Channel : 12345 } });
        (await run.ResponseStream.MoveNext()).Should().BeTrue();

        await run.RequestStream.WriteAsync(new RunRequest { Tasks = Batch(TestAssembly, RandomBytesId, [1], MessagePackSerializer.Serialize(new object[] { 300_000, 4 })) });
        (await run.ResponseStream.MoveNext()).Should().BeTrue();
        var batch = run.ResponseStream.Current.Results;
        await run.RequestStream.CompleteAsync();

        batch.TaskIds.Should().Equal(1UL);
        ReadOnlyMemory<byte> results;
        if (clientHasTheChannel)
        {
            batch.BulkId.Should().NotBe(0UL);
            batch.Results.IsEmpty.Should().BeTrue();
            var payload = await bulk.Results.TakeAsync(batch.BulkId, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
            results = payload.Data.ToArray();
            payload.Buffer.Release();
        }
        else
        {
            batch.BulkId.Should().Be(0UL, "no bulk-data connection has channel 12345");
            results = batch.Results.Memory;
        }

        var expected = new byte[300_000];
        new Random(4).NextBytes(expected);
        MessagePackSerializer.Deserialize<byte[]>(results).Should().Equal(expected);
    }

    [Fact]
    public async Task Run_MoreTasksThanTheCreditWindowWhileOutcomesAreHeld_EndsTheStreamWithResourceExhausted()
    {
        using var gate = new TaskGate();
        var stub = Coiled.Remote.Stubs.StubCatalog.Resolve((Func<int, string, CancellationToken, Task<int>>)TestJobs.IdentityWhenReleasedAsync);
        var window = Enumerable.Range(0, WireLimits.MaxTasksInFlight).ToArray();
        using var run = new Coiled.Remote.Transport.Protocol.Worker.WorkerClient(_worker.Channel).Run(Auth());
        await run.RequestStream.WriteAsync(new RunRequest { Open = new OpenEnvironment() });
        (await run.ResponseStream.MoveNext()).Should().BeTrue();

        // Two tasks run and hold the gate, the others wait: no outcome goes out, so the window stays full.
        await run.RequestStream.WriteAsync(new RunRequest
        {
            Tasks = Batch(TestAssembly, stub.Id, [.. window.Select(i => (ulong)i + 1)], [.. window.Select(i => MessagePackSerializer.Serialize(new object[] { i, gate.Folder }))]),
        });
        await run.RequestStream.WriteAsync(new RunRequest { Tasks = Batch(TestAssembly, stub.Id, [100_000], MessagePackSerializer.Serialize(new object[] { 0, gate.Folder })) });
        var cancelled = 0;
        async Task ReadToTheEndAsync()
        {
            // The tasks of the window are cancelled as the stream ends, and their outcomes still go out before its status.
            while (await run.ResponseStream.MoveNext())
            {
                cancelled += run.ResponseStream.Current.Results.Failures.Count(f => f.Kind == FailureKind.Canceled);
            }
        }

        var act = () => ReadToTheEndAsync().WaitAsync(TimeSpan.FromSeconds(30));

        var thrown = (await act.Should().ThrowAsync<RpcException>()).Which;
        thrown.StatusCode.Should().Be(StatusCode.ResourceExhausted);
        thrown.Status.Detail.Should().Be(
            "The client sent 1 more task(s) on a stream that already had 16,384 whose outcomes it had not received; a stream may have at most 16,384, " +
            "and the stream was ended. Use the same Coiled.Remote version on the caller and the workers: its scheduler sends only as many tasks as its credit window allows.");
        cancelled.Should().Be(WireLimits.MaxTasksInFlight, "the task past the window never ran nor was reported");
    }

    [Fact]
    public async Task Run_OutcomesTheClientReceived_MakeRoomForAnotherWholeWindowOfTasks()
    {
        var stub = Coiled.Remote.Stubs.StubCatalog.Resolve((Func<int, int>)TestJobs.Identity);
        using var run = new Coiled.Remote.Transport.Protocol.Worker.WorkerClient(_worker.Channel).Run(Auth());
        await run.RequestStream.WriteAsync(new RunRequest { Open = new OpenEnvironment() });
        (await run.ResponseStream.MoveNext()).Should().BeTrue();
        var received = 0;

        for (var round = 0; round < 2; round++)
        {
            var ids = Enumerable.Range((round * WireLimits.MaxTasksInFlight) + 1, WireLimits.MaxTasksInFlight).Select(i => (ulong)i).ToArray();
            await run.RequestStream.WriteAsync(new RunRequest { Tasks = Batch(TestAssembly, stub.Id, ids, [.. ids.Select(i => MessagePackSerializer.Serialize(new object[] { (int)i }))]) });
            while (received < (round + 1) * WireLimits.MaxTasksInFlight)
            {
                (await run.ResponseStream.MoveNext()).Should().BeTrue();
                received += run.ResponseStream.Current.Results.TaskIds.Count + run.ResponseStream.Current.Results.Failures.Count;
            }
        }

        await run.RequestStream.CompleteAsync();
        (await run.ResponseStream.MoveNext()).Should().BeFalse();
        received.Should().Be(2 * WireLimits.MaxTasksInFlight);
    }

    private static CallOptions Auth() => new(new Metadata { { WireLimits.AuthorizationHeader, WireLimits.BearerPrefix + Token } });

    private static List<string> Strings(ResultBatch batch)
    {
        var reader = new MessagePackReader(batch.Results.Memory);
        var strings = new List<string>();
        for (var i = 0; i < batch.TaskIds.Count; i++)
        {
            strings.Add(reader.ReadString()!);
        }

        return strings;
    }

    private async Task<List<ResultBatch>> RunAsync(params TaskBatch[] batches)
    {
        var auth = new CallOptions(new Metadata { { WireLimits.AuthorizationHeader, WireLimits.BearerPrefix + Token } });
        using var run = new Coiled.Remote.Transport.Protocol.Worker.WorkerClient(_worker.Channel).Run(auth);
        await run.RequestStream.WriteAsync(new RunRequest { Open = new OpenEnvironment() });
        (await run.ResponseStream.MoveNext()).Should().BeTrue();
        run.ResponseStream.Current.KindCase.Should().Be(RunReply.KindOneofCase.Ready);
        foreach (var batch in batches)
        {
            await run.RequestStream.WriteAsync(new RunRequest { Tasks = batch });
        }

        await run.RequestStream.CompleteAsync();
        var replies = new List<ResultBatch>();
        while (await run.ResponseStream.MoveNext())
        {
            replies.Add(run.ResponseStream.Current.Results);
        }

        return replies;
    }

    private static TaskBatch Batch(string assembly, string stub, ulong[] ids, params byte[][] arguments)
    {
        var batch = new TaskBatch { Assembly = assembly, StubId = stub, Arguments = ByteString.CopyFrom([.. arguments.SelectMany(a => a)]) };
        batch.TaskIds.AddRange(ids);
        return batch;
    }

    private static List<double> Values(ResultBatch batch)
    {
        var reader = new MessagePackReader(batch.Results.Memory);
        var values = new List<double>();
        for (var i = 0; i < batch.TaskIds.Count; i++)
        {
            values.Add(reader.ReadDouble());
        }

        return values;
    }
}
