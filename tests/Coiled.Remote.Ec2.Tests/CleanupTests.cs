using System.Diagnostics;
using Coiled.Remote.Ec2.Simulation;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coiled.Remote.Ec2.Tests;

/// <summary>What a killed or crashed caller leaves, found by tags and removed by cleanup.</summary>
public sealed class CleanupTests
{
    [LocalS3Fact]
    public async Task CleanupAsync_LocalEc2SelfContainedWorker_OwnerProcessKilled_RemovesItsClusterAndKeepsLiveOnes()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        using var caller = Process.Start(new ProcessStartInfo("sleep", "60") { UseShellExecute = false })!;
        var deadOwner = OwnerIdentity.Current with { ProcessId = caller.Id };

        // The killed caller's cluster: started, never disposed.
        var abandoned = new Ec2Backend(ec2.Options(), TestTuning.Fast(deadOwner), TimeProvider.System);
        await abandoned.StartWorkersAsync(Ec2BackendTests.Launch(2), CancellationToken.None);
        await using var live = new Ec2Backend(ec2.Options(), TestTuning.Fast(), TimeProvider.System);
        await live.StartWorkersAsync(Ec2BackendTests.Launch(1), CancellationToken.None);
        caller.Kill();
        await caller.WaitForExitAsync();

        // Boot secrets a start left behind when its caller was killed while the instances booted.
        using (var s3 = ec2.S3.Client())
        {
            foreach (var cluster in new[] { abandoned.ClusterName, live.ClusterName })
            {
                await s3.PutObjectAsync(new Amazon.S3.Model.PutObjectRequest
                {
                    BucketName = LocalEc2Endpoint.StagingBucketName,
                    Key = BootSecrets.PrefixOf(cluster) + "0123abcd",
                    ContentBody = "token",
                    UseChunkEncoding = false,
                });
            }
        }

        var sweeper = new Ec2Sweeper(ec2.Options(), TestTuning.Fast(), TimeProvider.System, NullLogger.Instance);

        var listed = await sweeper.ListAsync(CancellationToken.None);
        var report = await sweeper.CleanupAsync(includeLiveClusters: false, CancellationToken.None);

        listed.Select(c => c.Name).Should().BeEquivalentTo([abandoned.ClusterName, live.ClusterName]);
        var dead = listed.Single(c => c.Name == abandoned.ClusterName);
        dead.InstanceIds.Should().BeEquivalentTo(abandoned.InstanceIds);
        dead.SecurityGroupIds.Should().Equal(abandoned.SecurityGroupId);
        dead.InstanceTypes.Should().Equal("c7i.large");
        dead.Cost.Should().BeGreaterThan(0);
        dead.StaleReason.Should().Contain($"process {caller.Id}").And.Contain("gone");
        listed.Single(c => c.Name == live.ClusterName).StaleReason.Should().BeNull();

        report.Removed.Select(c => c.Name).Should().Equal(abandoned.ClusterName);
        report.Kept.Select(c => c.Name).Should().Equal(live.ClusterName);
        ec2.LiveInstances.Select(i => i.Id).Should().BeEquivalentTo(live.InstanceIds);
        ec2.Groups.Select(g => g.GroupId).Should().Equal(live.SecurityGroupId);
        var left = (await ec2.S3.ObjectsAsync(LocalEc2Endpoint.StagingBucketName)).Keys.Where(k => k.StartsWith("boot/", StringComparison.Ordinal));
        left.Should().Equal(BootSecrets.PrefixOf(live.ClusterName) + "0123abcd");
        report.StagingBucketRemoved.Should().BeNull("the bucket is removed only with every cluster");

        await live.DisposeAsync();
        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
    }

    [LocalS3Fact]
    public async Task CleanupAsync_LocalEc2SelfContainedWorker_ExpiredClusterOfAnotherMachine_IsRemoved()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var elsewhere = new OwnerIdentity("someone", "another-machine", 4242);
        var abandoned = new Ec2Backend(ec2.Options() with { MaxLifetime = TimeSpan.FromHours(1) }, TestTuning.Fast(elsewhere), TimeProvider.System);
        await abandoned.StartWorkersAsync(Ec2BackendTests.Launch(1), CancellationToken.None);

        var now = await new Ec2Sweeper(ec2.Options(), TestTuning.Fast(), TimeProvider.System, NullLogger.Instance).CleanupAsync(false, CancellationToken.None);
        var later = await new Ec2Sweeper(ec2.Options(), TestTuning.Fast(), new ShiftedTime(TimeSpan.FromHours(2)), NullLogger.Instance).CleanupAsync(false, CancellationToken.None);

        now.Removed.Should().BeEmpty("an owner on another machine is never known to be gone before expiry");
        later.Removed.Should().ContainSingle().Which.StaleReason.Should().StartWith("expired at");
        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
    }

    private sealed class ShiftedTime(TimeSpan offset) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + offset;
    }
}
