using Coiled.Remote.Ec2.Simulation;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Ec2.Tests;

/// <summary>
/// <see cref="ClusterOptions.MinimumWorkers"/> with the EC2 backend against the local EC2 endpoint: instances that boot
/// late join the running cluster, and one that fails to boot after the start is logged and terminated.
/// </summary>
public sealed class Ec2BackendProgressiveStartTests
{
    // Beyond the boot timeout (3 min in TestTuning.Fast): instances boot slowly while other test classes boot theirs.
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(5);

    [LocalS3Fact]
    public async Task StartAsync_LocalEc2SelfContainedWorker_MinimumOneOfThreeTwoBootLate_ReturnsWithOneAndLateOnesJoinAndRunTasks()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var late = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var booted = 0;
        ec2.BootGate = instance => Interlocked.Increment(ref booted) == 1 ? Task.CompletedTask : late.Task;
        var backend = new Ec2Backend(ec2.Options(), TestTuning.Fast(), TimeProvider.System);

        await using (var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 3, MinimumWorkers = 1, Backend = backend }).WaitAsync(Safety))
        {
            cluster.Workers.Should().ContainSingle();
            ec2.Instances.Count(i => i.State == "pending").Should().Be(2, "the other two have not booted yet");

            late.SetResult();
            using (var safety = new CancellationTokenSource(Safety))
            {
                while (cluster.Workers.Count < 3)
                {
                    await Task.Delay(50, safety.Token);
                }
            }

            var executors = await cluster.MapAsync(Ec2Jobs.SlowProcessId, Enumerable.Range(0, 60)).WaitAsync(Safety);
            executors.Distinct().Should().HaveCount(3, "each of the three workers ran tasks");
            cluster.Workers.Should().OnlyContain(w => w.State == WorkerState.Ready);
        }

        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
    }

    [LocalS3Fact]
    public async Task StartAsync_LocalEc2SelfContainedWorker_LateInstanceFailsToBoot_ClusterRunsOnLogsItAndTerminatesIt()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var fail = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var booted = 0;
        FakeInstance? failed = null;
        ec2.BootGate = async instance =>
        {
            if (Interlocked.Increment(ref booted) > 1)
            {
                await fail.Task;
                failed = instance;
                ec2.FailBoot(instance);
            }
        };
        var logs = new ListLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs));
        var backend = new Ec2Backend(ec2.Options(), TestTuning.Fast(), TimeProvider.System);

        await using (var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, MinimumWorkers = 1, Backend = backend, LoggerFactory = loggerFactory }).WaitAsync(Safety))
        {
            fail.SetResult();
            using (var safety = new CancellationTokenSource(Safety))
            {
                // The cluster's line comes after the backend's ("Terminating ... whose worker did not come").
                while (!logs.Lines.Any(l => l.Contains("worker(s) (not started) did not come", StringComparison.Ordinal)))
                {
                    await Task.Delay(50, safety.Token);
                }
            }

            logs.Lines.Should().Contain(l => l.StartsWith($"Terminating 1 EC2 instance(s) of {backend.ClusterName} whose worker did not come: {failed!.Id}", StringComparison.Ordinal));
            logs.Lines.Should().ContainSingle(l => l.Contains("worker(s) (not started) did not come", StringComparison.Ordinal))
                .Which.Should().StartWith("1 worker(s) (not started) did not come; the cluster goes on with the 1 of 2 that did: ")
                .And.Contain($"EC2 instance {failed!.Id} of cluster {backend.ClusterName} went terminated while booting (Server.InternalError: Internal error on launch)");
            (await cluster.MapAsync(Ec2Jobs.Square, [2.0, 3.0]).WaitAsync(Safety)).Should().Equal(4.0, 9.0);
            cluster.Workers.Should().ContainSingle();
        }

        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
    }
}
