using Coiled.Remote.Ec2.Simulation;
using Coiled.Remote.Tests.Support;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Coiled.Remote.Ec2.Tests;

/// <summary>
/// A spot fleet of three on the local EC2 and S3 endpoints, whose instances' real boot scripts point their workers at
/// the fake instance metadata service (IMDSv2): EC2 announces one instance's interruption in the middle of a call.
/// </summary>
[Collection(FleetCollection.Name)]
public sealed class SpotInterruptionFleetTests(ITestOutputHelper output)
{
    private const int Items = 1500;

    [LocalS3Fact]
    public async Task MapAsync_SpotInstanceInterruptedMidCall_ItsTasksRunElsewhereWithNoneLostItIsTerminatedAndASpotReplacementJoins()
    {
        var isolated = SandboxNetwork.Unavailable is null;
        output.WriteLine(isolated ? "instances in network namespaces" : $"instances on this machine's network: {SandboxNetwork.Unavailable}");
        await using var ec2 = await LocalEc2Endpoint.StartAsync(isolateNetwork: isolated);
        var backend = new Ec2Backend(ec2.Options(spot: true), TestTuning.Fast() with { BootTimeout = TimeSpan.FromMinutes(5) }, TimeProvider.System);
        using var logs = new CapturingLoggerProvider();
        using var loggerFactory = logs.CreateFactory();

        await using var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 3,
            Backend = backend,
            LoggerFactory = loggerFactory,
            // A single death counted against a task would fail it: the interruption must count none.
            MaxWorkerDeaths = 1,
        });
        var map = cluster.MapAsync(Ec2Jobs.SlowSquare, Enumerable.Range(0, Items));
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (cluster.Summary.TasksRun < 60)
        {
            DateTime.UtcNow.Should().BeBefore(deadline, "the call should get under way");
            await Task.Delay(20);
        }

        var victim = cluster.Workers[0];
        var instance = ec2.Instances.Single(i => i.SandboxAddress == victim.Address.Host);
        var original = ec2.Instances.Select(i => i.Id).ToList();
        var announced = DateTimeOffset.UtcNow;
        ec2.Metadata.Interrupt(instance.Id, "terminate", announced.AddMinutes(2));
        var results = await map.WaitAsync(TimeSpan.FromMinutes(3));

        results.Should().Equal(Enumerable.Range(0, Items).Select(i => (long)i * i));
        var summary = cluster.Summary;
        summary.TasksFailed.Should().Be(0);
        summary.TasksRun.Should().Be(Items, "no task was lost");
        var warning = logs.Entries.Should().ContainSingle(e => e.Level == LogLevel.Warning && e.Message.Contains(" is being reclaimed: ", StringComparison.Ordinal)).Which;
        warning.Message.Should().StartWith($"Worker {victim.Id} at {victim.Address}");
        var requeued = (int)warning.Values["Count"]!;
        requeued.Should().BeGreaterThan(0, "the worker had tasks in flight mid-call");
        summary.TasksRequeued.Should().Be(requeued);
        logs.Entries.Should().NotContain(e => e.Message.Contains("worker processes that died", StringComparison.Ordinal));
        cluster.Workers.Single(w => w.Id == victim.Id).State.Should().Be(WorkerState.Interrupted);

        var read = ec2.Metadata.InterruptionReadAt(instance.Id)!.Value;
        output.WriteLine(
            $"{requeued} tasks requeued {(warning.At - read).TotalMilliseconds:0} ms after the worker read the notice " +
            $"({(warning.At - announced).TotalMilliseconds:0} ms after EC2 announced it; the worker polls every 5 s); {Items} of {Items} results right, {summary.TasksFailed} failed");
        (warning.At - read).Should().BeLessThan(TimeSpan.FromSeconds(1));

        // The reclaimed instance is terminated at once: its billing ends before EC2 takes it.
        while (ec2.Instances.Single(i => i.Id == instance.Id).State != "terminated")
        {
            DateTime.UtcNow.Should().BeBefore(deadline.AddMinutes(2), "the reclaimed instance should be terminated");
            await Task.Delay(50);
        }

        logs.Entries.Should().ContainSingle(e => e.Message.StartsWith($"Terminating EC2 instance {instance.Id} of {backend.ClusterName}: its worker at {victim.Address} ended", StringComparison.Ordinal));

        // A replacement, spot first again and in the cluster's zone, joins the cluster.
        while (cluster.Workers.Count(w => w.State == WorkerState.Ready) < 3)
        {
            DateTime.UtcNow.Should().BeBefore(deadline.AddMinutes(4), "a replacement should join");
            await Task.Delay(50);
        }

        var replacement = ec2.Instances.Should().ContainSingle(i => !original.Contains(i.Id)).Which;
        replacement.Spot.Should().BeTrue();
        replacement.Zone.Should().Be(instance.Zone);
        logs.Entries.Should().ContainSingle(e => e.Message.StartsWith($"Worker {victim.Id} ended (its cloud reclaims its machine", StringComparison.Ordinal) && e.Message.Contains("replaced by worker", StringComparison.Ordinal));
        output.WriteLine($"replacement {replacement.Id} ({replacement.InstanceType}, spot, {replacement.Zone}) joined");
    }
}
