using Coiled.Remote.Synchronization;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using MessagePack;

namespace Coiled.Remote.Tests.Worker;

/// <summary>The Run stream driven by hand against a real daemon, which relays it to an executor process.</summary>
public sealed class DaemonTaskStreamTests
{
    private static readonly string TestAssembly = typeof(TestJobs).Assembly.GetName().Name!;
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Run_BatchPastTheCreditWindow_EndsTheStreamWithResourceExhaustedAndTheNextStreamIsServed()
    {
        await using var daemon = await TestDaemon.StartAsync();
        using var channel = GrpcChannel.ForAddress(daemon.Address);
        var client = new Coiled.Remote.Transport.Protocol.Worker.WorkerClient(channel);
        var synced = await EnvironmentUploader.SyncAsync(client, ApplicationFolder.Scan(AppContext.BaseDirectory, TestAssembly, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance).SnapshotFor(RuntimePlatform.Current), Auth(), null, CancellationToken.None).WaitAsync(Safety);
        using var run = await OpenAsync(client, synced.EnvironmentId);

        await run.RequestStream.WriteAsync(new RunRequest { Tasks = IdentityBatches.Of(Enumerable.Range(1, WireLimits.MaxTasksInFlight + 1)) });
        var act = () => run.ResponseStream.MoveNext().WaitAsync(Safety);

        var thrown = (await act.Should().ThrowAsync<RpcException>()).Which;
        thrown.StatusCode.Should().Be(StatusCode.ResourceExhausted);
        thrown.Status.Detail.Should().Be(
            "The client sent 16,385 more task(s) on a stream that already had 0 whose outcomes it had not received; a stream may have at most 16,384, " +
            "and the stream was ended. Use the same Coiled.Remote version on the caller and the workers: its scheduler sends only as many tasks as its credit window allows.");
        using var next = await OpenAsync(client, synced.EnvironmentId);
        await next.RequestStream.WriteAsync(new RunRequest { Tasks = IdentityBatches.Of([7]) });
        (await next.ResponseStream.MoveNext().WaitAsync(Safety)).Should().BeTrue();
        MessagePackSerializer.Deserialize<int>(next.ResponseStream.Current.Results.Results.Memory).Should().Be(7);
    }

    private static async Task<AsyncDuplexStreamingCall<RunRequest, RunReply>> OpenAsync(Coiled.Remote.Transport.Protocol.Worker.WorkerClient client, string environmentId)
    {
        var run = client.Run(Auth());
        await run.RequestStream.WriteAsync(new RunRequest { Open = new OpenEnvironment { EnvironmentId = environmentId } });
        (await run.ResponseStream.MoveNext().WaitAsync(Safety)).Should().BeTrue();
        run.ResponseStream.Current.KindCase.Should().Be(RunReply.KindOneofCase.Ready);
        return run;
    }

    private static CallOptions Auth() => new(new Metadata { { WireLimits.AuthorizationHeader, WireLimits.BearerPrefix + TestDaemon.Token } });
}
