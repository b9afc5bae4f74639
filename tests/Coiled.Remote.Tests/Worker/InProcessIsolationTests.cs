using System.Collections;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Grpc.Core;
using MessagePack;

namespace Coiled.Remote.Tests.Worker;

/// <summary>
/// Workers inside the caller's process run tasks in it, and never change its working directory or its variables,
/// which belong to the application that hosts them. The process-wide state is compared, so nothing runs meanwhile.
/// </summary>
[Collection(AloneCollection.Name)]
public sealed class InProcessIsolationTests
{
    private const string Token = "in-process-isolation-token-0123";
    private const string Variable = "COILED_REMOTE_TEST_IN_PROCESS";
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task Run_OpenWithVariablesOnAnInProcessWorker_TheProcessKeepsItsOwnVariablesAndDirectory()
    {
        var directory = Environment.CurrentDirectory;
        await using var worker = await TestWorker.StartAsync(Token, hostEnvironment: true);
        var auth = new CallOptions(new Metadata { { WireLimits.AuthorizationHeader, WireLimits.BearerPrefix + Token } });
        using var run = worker.Client.Run(auth);
        var open = new OpenEnvironment();
        open.EnvironmentVariables[Variable] = "sent by a client";
        await run.RequestStream.WriteAsync(new RunRequest { Open = open });
        (await run.ResponseStream.MoveNext()).Should().BeTrue();

        var batch = new TaskBatch
        {
            Assembly = typeof(TestJobs).Assembly.GetName().Name!,
            StubId = "Coiled.Remote.Tests.Support.TestJobs.ReadVariable(System.String)",
            TaskIds = { 1 },
            Arguments = Google.Protobuf.ByteString.CopyFrom(MessagePackSerializer.Serialize(new object[] { Variable })),
        };
        await run.RequestStream.WriteAsync(new RunRequest { Tasks = batch });
        (await run.ResponseStream.MoveNext().WaitAsync(Safety)).Should().BeTrue();
        var results = run.ResponseStream.Current.Results;
        await run.RequestStream.CompleteAsync();

        results.TaskIds.Should().Equal(1UL);
        MessagePackSerializer.Deserialize<string?>(results.Results.Memory).Should().BeNull("the task runs in this process, whose variables are its own");
        Environment.GetEnvironmentVariable(Variable).Should().BeNull();
        Environment.CurrentDirectory.Should().Be(directory);
    }

    [Fact]
    public async Task InProcessBackend_ForwardedVariablesAndTasks_LeaveTheCallersDirectoryAndVariablesAsTheyWere()
    {
        Environment.SetEnvironmentVariable(Variable, "the caller's own");
        try
        {
            var directory = Environment.CurrentDirectory;
            var variables = Snapshot();
            await using (var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend(), ForwardEnvironmentVariables = [Variable] }))
            {
                (await cluster.MapAsync(TestJobs.ReadVariable, Enumerable.Repeat(Variable, 8)).WaitAsync(Safety)).Should().OnlyContain(v => v == "the caller's own");
            }

            Environment.CurrentDirectory.Should().Be(directory);
            Snapshot().Should().Equal(variables);
        }
        finally
        {
            Environment.SetEnvironmentVariable(Variable, null);
        }
    }

    private static SortedDictionary<string, string?> Snapshot()
        => new(Environment.GetEnvironmentVariables().Cast<DictionaryEntry>().ToDictionary(e => (string)e.Key, e => (string?)e.Value), StringComparer.Ordinal);
}
