using Coiled.Remote.Ec2.Simulation;
using Coiled.Remote.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Ec2.Tests;

/// <summary>
/// A running EC2 cluster on the local EC2 and S3 endpoints loses an instance (EC2 reclaims it) and launches a
/// replacement into the same cluster: its security group, its zone, fresh boot secrets; or says why it cannot.
/// </summary>
public sealed class Ec2ReplacementTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(5);

    [LocalS3Fact]
    public async Task MapAsync_InstanceReclaimedMidCall_AReplacementInTheClusterZoneJoinsEveryResultComesAndNothingIsLeft()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var backend = new Ec2Backend(ec2.Options(), TestTuning.Fast(), TimeProvider.System);
        using var logs = new CapturingLoggerProvider();
        using var loggerFactory = logs.CreateFactory();

        await using (var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = backend, LoggerFactory = loggerFactory }).WaitAsync(Safety))
        {
            var zone = ec2.Instances.Select(i => i.Zone).Distinct().Should().ContainSingle().Which;
            var original = ec2.Instances.Select(i => i.Id).ToList();
            var map = cluster.MapAsync(Ec2Jobs.SlowSquare, Enumerable.Range(0, 400));
            await Eventually.HoldsAsync(() => cluster.Summary.TasksRun >= 20, "the call to be under way", Safety);
            var victim = cluster.Workers[0];
            var reclaimed = ec2.Instances.Single(i => i.SandboxAddress == victim.Address.Host);
            ec2.Reclaim(reclaimed, "Server.InternalError: Internal error on the host");

            var results = await map.WaitAsync(Safety);
            await Eventually.HoldsAsync(() => cluster.Workers.Count(w => w.State == WorkerState.Ready) == 2, "a replacement to join", Safety);

            results.Should().Equal(Enumerable.Range(0, 400).Select(i => (long)i * i));
            ec2.Instances.Should().HaveCount(3, "one replacement was launched");
            var replacement = ec2.Instances.Single(i => !original.Contains(i.Id));
            cluster.Workers.Should().Contain(w => w.State == WorkerState.Ready && w.Address.Host == replacement.SandboxAddress);
            replacement.Zone.Should().Be(zone, "a replacement goes to the cluster's zone, where traffic between workers is free");
            replacement.GroupIds.Should().Equal(backend.SecurityGroupId);
            replacement.Tags.Should().Contain("coiled-remote:cluster", backend.ClusterName);
            cluster.Workers.Single(w => w.Id == victim.Id).State.Should().Be(WorkerState.Lost);
            logs.Entries.Should().ContainSingle(e => e.Message.StartsWith($"Worker {victim.Id} ", StringComparison.Ordinal) && e.Message.Contains("replaced", StringComparison.Ordinal));

            // Each launch's boot secrets go once its worker is up.
            (await ec2.S3.ObjectsAsync(LocalEc2Endpoint.StagingBucketName)).Keys.Should().NotContain(k => k.StartsWith("boot/", StringComparison.Ordinal));
            var squares = await cluster.MapAsync(Ec2Jobs.SlowProcessId, Enumerable.Range(0, 40)).WaitAsync(Safety);
            squares.Distinct().Should().HaveCount(2, "the surviving worker and the replacement both run tasks");
        }

        ec2.LiveInstances.Should().BeEmpty("teardown terminates the replacement with the rest");
        ec2.Groups.Should().BeEmpty();
        backend.InstanceIds.Should().HaveCount(3);
    }

    [LocalS3Fact]
    public async Task ScaleAsync_UpThenDown_LaunchesInstancesIntoTheClusterThenTerminatesTheRetiredOnes()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var backend = new Ec2Backend(ec2.Options(), TestTuning.Fast(), TimeProvider.System);

        await using (var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = backend }).WaitAsync(Safety))
        {
            await cluster.ScaleAsync(3).WaitAsync(Safety);
            ec2.LiveInstances.Should().HaveCount(3).And.OnlyContain(i => i.GroupIds.Single() == backend.SecurityGroupId && i.Zone == ec2.Instances[0].Zone);
            var processes = await cluster.MapAsync(Ec2Jobs.SlowProcessId, Enumerable.Range(0, 60)).WaitAsync(Safety);
            processes.Distinct().Should().HaveCount(3, "the added workers run tasks");

            await cluster.ScaleAsync(1).WaitAsync(Safety);
            await Eventually.HoldsAsync(() => ec2.LiveInstances.Count == 1, "the retired instances to be terminated", Safety);

            var retired = cluster.Workers.Where(w => w.State == WorkerState.Retired).ToList();
            retired.Should().HaveCount(2);
            ec2.Instances.Where(i => i.State == "terminated").Select(i => i.SandboxAddress).Should().BeEquivalentTo(retired.Select(w => w.Address.Host));
            (await cluster.MapAsync(Ec2Jobs.Square, [2.0]).WaitAsync(Safety)).Should().Equal(4.0);
        }

        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
        (await ec2.S3.ObjectsAsync(LocalEc2Endpoint.StagingBucketName)).Keys.Should().NotContain(k => k.StartsWith("boot/", StringComparison.Ordinal));
    }

    [LocalS3Fact]
    public async Task ReplaceLostWorker_NoCapacityLeftInAnyZone_ClusterRunsOnWithTheOtherLogsWhyAndLaunchesNothing()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var backend = new Ec2Backend(ec2.Options() with { CapacityTimeout = TimeSpan.Zero }, TestTuning.Fast(), TimeProvider.System);
        using var logs = new CapturingLoggerProvider();
        using var loggerFactory = logs.CreateFactory();

        await using (var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = backend, LoggerFactory = loggerFactory }).WaitAsync(Safety))
        {
            ec2.SetCapacity("c7i.large@us-east-1a", 0);
            ec2.SetCapacity("c7i.large@us-east-1b", 0);
            var victim = cluster.Workers[0];
            ec2.Reclaim(ec2.Instances.Single(i => i.SandboxAddress == victim.Address.Host));

            await Eventually.HoldsAsync(() => logs.Entries.Any(e => e.Level == LogLevel.Error && e.Message.Contains("could not be replaced", StringComparison.Ordinal)), "the failed replacement's error", Safety);
            var error = logs.Entries.Single(e => e.Message.Contains("could not be replaced", StringComparison.Ordinal));
            error.Exception.Should().BeOfType<ClusterStartException>().Which.Message.Should().Contain("InsufficientInstanceCapacity").And.Contain("EC2 launched nothing");

            var results = await cluster.MapAsync(Ec2Jobs.SlowSquare, Enumerable.Range(0, 30)).WaitAsync(Safety);
            results.Should().Equal(Enumerable.Range(0, 30).Select(i => (long)i * i));
            ec2.Instances.Should().HaveCount(2, "no instance was launched for the replacement");
            cluster.Workers.Count(w => w.State == WorkerState.Ready).Should().Be(1);
        }

        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
        (await ec2.S3.ObjectsAsync(LocalEc2Endpoint.StagingBucketName)).Keys.Should().NotContain(k => k.StartsWith("boot/", StringComparison.Ordinal));
    }

    [LocalS3Fact]
    public async Task ReplaceLostWorker_ClusterLifetimeAlmostOver_LaunchesNothingAndSaysWhy()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var backend = new Ec2Backend(ec2.Options() with { MaxLifetime = TimeSpan.FromMinutes(9) }, TestTuning.Fast(), TimeProvider.System);
        using var logs = new CapturingLoggerProvider();
        using var loggerFactory = logs.CreateFactory();

        await using (var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = backend, LoggerFactory = loggerFactory }).WaitAsync(Safety))
        {
            var victim = cluster.Workers[1];
            ec2.Reclaim(ec2.Instances.Single(i => i.SandboxAddress == victim.Address.Host));

            await Eventually.HoldsAsync(() => logs.Entries.Any(e => e.Message.Contains("could not be replaced", StringComparison.Ordinal)), "the refused replacement's error", Safety);
            var error = logs.Entries.Single(e => e.Message.Contains("could not be replaced", StringComparison.Ordinal));
            error.Exception.Should().BeOfType<ClusterStartException>().Which.Message.Should()
                .Contain($"Cluster {backend.ClusterName} reaches the end of its Ec2Options.MaxLifetime in ").And.Contain("no instance was launched for 1 more worker(s)");
            ec2.Instances.Should().HaveCount(2);
            (await cluster.MapAsync(Ec2Jobs.Square, [3.0]).WaitAsync(Safety)).Should().Equal(9.0);
        }

        ec2.LiveInstances.Should().BeEmpty();
    }

    [LocalS3Fact]
    public async Task DisposeAsync_WhileAReplacementBoots_StopsItsLaunchAndLeavesNothing()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var booted = 0;
        var never = new TaskCompletionSource();
        ec2.BootGate = _ => Interlocked.Increment(ref booted) <= 2 ? Task.CompletedTask : never.Task;
        var backend = new Ec2Backend(ec2.Options(), TestTuning.Fast(), TimeProvider.System);

        var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = backend }).WaitAsync(Safety);
        var victim = cluster.Workers[0];
        ec2.Reclaim(ec2.Instances.Single(i => i.SandboxAddress == victim.Address.Host));
        await Eventually.HoldsAsync(() => ec2.Instances.Count == 3, "the replacement's launch", Safety);

        await cluster.DisposeAsync().AsTask().WaitAsync(Safety);

        ec2.LiveInstances.Should().BeEmpty("the replacement that never booted is terminated with the rest");
        ec2.Groups.Should().BeEmpty();
        backend.InstanceIds.Should().HaveCount(3);
        (await ec2.S3.ObjectsAsync(LocalEc2Endpoint.StagingBucketName)).Keys.Should().NotContain(k => k.StartsWith("boot/", StringComparison.Ordinal));
        Func<Task> more = async () => await backend.StartWorkersAsync(new WorkerLaunch(1, "t", TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance), CancellationToken.None);
        await more.Should().ThrowAsync<ObjectDisposedException>();
    }

    [LocalS3Fact]
    public async Task Interrupt_RunningClusterThatReplacesLostWorkers_TearsDownWithoutLaunchingReplacements()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var backend = new Ec2Backend(ec2.Options(), TestTuning.Fast(), TimeProvider.System);
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = backend }).WaitAsync(Safety);

        // What Ctrl+C does: the teardown ends the workers, which the cluster sees as lost.
        await backend.InterruptAsync(exitProcess: false).WaitAsync(Safety);
        await Task.Delay(TimeSpan.FromSeconds(1));

        ec2.Calls.Count(c => c.Action == "RunInstances").Should().Be(1, "nothing is launched once the cluster is torn down");
        ec2.Instances.Should().HaveCount(2);
        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
    }

    [LocalS3Fact]
    public async Task DisposeAsync_AnInstanceEc2HasForgotten_TearsDownTheRestWithoutTerminatingItAgain()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var backend = new Ec2Backend(ec2.Options(), TestTuning.Fast() with { InstanceVisibleWithin = TimeSpan.FromSeconds(1) }, TimeProvider.System);
        await backend.StartWorkersAsync(new WorkerLaunch(2, "forgotten-instance-token", TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(5), Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance), CancellationToken.None).WaitAsync(Safety);
        var gone = ec2.Instances[0];
        ec2.Reclaim(gone);
        await Eventually.HoldsAsync(() => gone.State == "terminated", "the reclaimed instance to end", Safety);
        // An hour later, EC2 no longer knows it.
        ec2.Forget(gone);
        await Task.Delay(TimeSpan.FromSeconds(1));

        await backend.DisposeAsync().AsTask().WaitAsync(Safety);

        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
        ec2.Calls.Where(c => c.Action == "TerminateInstances").SelectMany(c => c.List("InstanceId")).Should().NotContain(gone.Id);
    }
}
