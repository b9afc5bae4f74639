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

/// <summary>
/// Random and mutated bytes on every RPC of a real worker (seeded, so a failure reproduces): each is accepted or refused
/// with a status that names the caller's mistake, never Unknown or Internal (a handler that threw), and the worker
/// still serves a real cluster afterwards.
/// </summary>
public sealed class WorkerFuzzTests : IAsyncLifetime
{
    private const string Token = "fuzz-token-0123456789abcdef";
    private const int Seed = 20261127;
    private static readonly Marshaller<byte[]> Raw = Marshallers.Create(bytes => bytes, bytes => bytes);

    /// <summary>
    /// What a worker may answer to a message it was sent: OK for one it could use, or a refusal that says what was wrong
    /// with it. Unknown and Internal (an exception escaped a handler) and Unavailable (the worker went away) are not here.
    /// </summary>
    private static readonly HashSet<StatusCode> Answers =
    [
        StatusCode.OK,
        StatusCode.InvalidArgument,
        StatusCode.FailedPrecondition,
        StatusCode.OutOfRange,
        StatusCode.NotFound,
        StatusCode.ResourceExhausted,
        StatusCode.DataLoss,
        StatusCode.Unauthenticated,
        StatusCode.Cancelled,
    ];
    private TestWorker _worker = null!;

    public async Task InitializeAsync() => _worker = await TestWorker.StartAsync(Token);

    public async Task DisposeAsync() => await _worker.DisposeAsync();

    [Fact]
    public async Task EveryRpc_ThousandRandomAndMutatedMessages_UsedOrRefusedNeverUnknownAndWorkerKeepsServing()
    {
        var random = new Random(Seed);
        var samples = ValidMessages();
        var auth = new CallOptions(new Metadata { { WireLimits.AuthorizationHeader, WireLimits.BearerPrefix + Token } });
        var invoker = _worker.Channel.CreateCallInvoker();
        var statuses = new Dictionary<StatusCode, int>();
        var unexpected = new List<string>();

        for (var i = 0; i < 1200; i++)
        {
            var rpc = i % 7;
            var payload = random.Next(3) == 0 ? RandomBytes(random) : Mutate(random, samples[random.Next(samples.Count)]);
            Status status;
            switch (rpc)
            {
                case 0:
                    status = await UnaryAsync(invoker, "Hello", payload, auth);
                    break;
                case 1:
                    status = await UnaryAsync(invoker, "PlanSync", payload, auth);
                    break;
                case 2:
                    // Shutdown without the token must never stop the worker, whatever the body.
                    status = await UnaryAsync(invoker, "Shutdown", payload, default);
                    status.StatusCode.Should().Be(StatusCode.Unauthenticated);
                    break;
                case 3:
                    status = await ClientStreamAsync(invoker, payload, Mutate(random, samples[random.Next(samples.Count)]), auth);
                    break;
                case 4:
                    status = await ServerStreamAsync(invoker, payload, auth);
                    break;
                default:
                    status = await DuplexAsync(invoker, payload, Mutate(random, samples[random.Next(samples.Count)]), auth);
                    break;
            }

            statuses[status.StatusCode] = statuses.GetValueOrDefault(status.StatusCode) + 1;
            if (!Answers.Contains(status.StatusCode))
            {
                unexpected.Add($"message {i} to {Rpcs[rpc]}: {status.StatusCode} {status.Detail}");
            }

        }

        unexpected.Should().BeEmpty(
            "every message is used or refused with a status naming the mistake (statuses: {0})",
            string.Join(", ", statuses.Select(s => $"{s.Key} {s.Value}")));
        statuses.Keys.Should().Contain([StatusCode.OK, StatusCode.InvalidArgument], "the seeded messages include usable and malformed ones");
        _worker.Host.StopRequested.IsCompleted.Should().BeFalse();

        // The same worker still runs real tasks for a real cluster.
        await using (var cluster = await Cluster.ConnectAsync([_worker.Host.Address], Token))
        {
            (await cluster.MapAsync(TestJobs.Square, [1.0, 2.0, 3.0]).WaitAsync(TimeSpan.FromMinutes(2))).Should().Equal(1.0, 4.0, 9.0);
        }

        _worker.Host.StopRequested.IsCompleted.Should().BeFalse("a cluster that connected to a worker started by hand leaves it running");
    }

    private static readonly string[] Rpcs = ["Hello", "PlanSync", "Shutdown", "Upload", "Watch", "Run", "Run"];

    private static async Task<Status> UnaryAsync(CallInvoker invoker, string name, byte[] payload, CallOptions options)
    {
        var method = new Method<byte[], byte[]>(MethodType.Unary, "coiled.remote.v1.Worker", name, Raw, Raw);
        try
        {
            await invoker.AsyncUnaryCall(method, null, options.WithDeadline(DateTime.UtcNow.AddSeconds(30)), payload);
            return Status.DefaultSuccess;
        }
        catch (RpcException ex)
        {
            return ex.Status;
        }
    }

    /// <summary>Watch streams heartbeats until cancelled: the first answer (a heartbeat or an error) is enough.</summary>
    private static async Task<Status> ServerStreamAsync(CallInvoker invoker, byte[] payload, CallOptions options)
    {
        var method = new Method<byte[], byte[]>(MethodType.ServerStreaming, "coiled.remote.v1.Worker", "Watch", Raw, Raw);
        try
        {
            using var call = invoker.AsyncServerStreamingCall(method, null, options.WithDeadline(DateTime.UtcNow.AddSeconds(30)), payload);
            await call.ResponseStream.MoveNext();
            return Status.DefaultSuccess;
        }
        catch (RpcException ex)
        {
            return ex.Status;
        }
    }

    private static async Task<Status> ClientStreamAsync(CallInvoker invoker, byte[] first, byte[] second, CallOptions options)
    {
        var method = new Method<byte[], byte[]>(MethodType.ClientStreaming, "coiled.remote.v1.Worker", "Upload", Raw, Raw);
        try
        {
            using var call = invoker.AsyncClientStreamingCall(method, null, options.WithDeadline(DateTime.UtcNow.AddSeconds(30)));
            await call.RequestStream.WriteAsync(first);
            await call.RequestStream.WriteAsync(second);
            await call.RequestStream.CompleteAsync();
            await call.ResponseAsync;
            return Status.DefaultSuccess;
        }
        catch (RpcException ex)
        {
            return ex.Status;
        }
    }

    private static async Task<Status> DuplexAsync(CallInvoker invoker, byte[] first, byte[] second, CallOptions options)
    {
        var method = new Method<byte[], byte[]>(MethodType.DuplexStreaming, "coiled.remote.v1.Worker", "Run", Raw, Raw);
        try
        {
            using var call = invoker.AsyncDuplexStreamingCall(method, null, options.WithDeadline(DateTime.UtcNow.AddSeconds(30)));
            await call.RequestStream.WriteAsync(first);
            await call.RequestStream.WriteAsync(second);
            await call.RequestStream.CompleteAsync();
            while (await call.ResponseStream.MoveNext())
            {
            }

            return Status.DefaultSuccess;
        }
        catch (RpcException ex)
        {
            return ex.Status;
        }
    }

    /// <summary>Well-formed messages of every kind, including task batches with hostile MessagePack arguments.</summary>
    private static List<byte[]> ValidMessages()
    {
        var manifest = new Manifest { ProtocolVersion = ProtocolVersion.Current, EntryAssembly = "App" };
        manifest.Files.Add(new ManifestEntry { Path = "App.dll", Sha256 = ByteString.CopyFrom(new byte[32]), Size = 10 });
        var tasks = new TaskBatch { Assembly = typeof(TestJobs).Assembly.GetName().Name, StubId = "Coiled.Remote.Tests.Support.TestJobs.Square(System.Double)", Arguments = ByteString.CopyFrom(MessagePackSerializer.Serialize(new object[] { 2.0 })) };
        tasks.TaskIds.Add(1);
        var hostile = new TaskBatch { Assembly = "Missing", StubId = "Nope()", Arguments = ByteString.CopyFrom(0xdd, 0xff, 0xff, 0xff, 0xff) };
        hostile.TaskIds.Add(2);
        hostile.TaskIds.Add(3);
        return
        [
            new HelloRequest { ProtocolVersion = ProtocolVersion.Current, ClientName = "fuzz" }.ToByteArray(),
            new SyncPlanRequest { Manifest = manifest }.ToByteArray(),
            new BlobChunk { Sha256 = ByteString.CopyFrom(new byte[32]), Size = 4, Offset = 0, Data = ByteString.CopyFromUtf8("data") }.ToByteArray(),
            new RunRequest { Open = new OpenEnvironment { EnvironmentId = string.Empty } }.ToByteArray(),
            new RunRequest { Open = new OpenEnvironment { EnvironmentId = new string('a', 64) } }.ToByteArray(),
            new RunRequest { Tasks = tasks }.ToByteArray(),
            new RunRequest { Tasks = hostile }.ToByteArray(),
            new RunRequest { Cancel = new CancelTasks { TaskIds = { 1, 2, 3 } } }.ToByteArray(),
            new ShutdownRequest { Reason = "fuzz" }.ToByteArray(),
            new WatchRequest { IntervalMs = 500 }.ToByteArray(),
        ];
    }

    private static byte[] RandomBytes(Random random)
    {
        var bytes = new byte[random.Next(0, 200)];
        random.NextBytes(bytes);
        return bytes;
    }

    private static byte[] Mutate(Random random, byte[] original)
    {
        var bytes = original.ToArray();
        switch (random.Next(4))
        {
            case 0 when bytes.Length > 0:
                bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                return bytes;
            case 1 when bytes.Length > 1:
                return bytes[..random.Next(1, bytes.Length)];
            case 2:
                var extra = new byte[random.Next(1, 20)];
                random.NextBytes(extra);
                return [.. bytes, .. extra];
            default:
                for (var i = 0; i < 3 && bytes.Length > 0; i++)
                {
                    bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                }

                return bytes;
        }
    }
}
