using Coiled.Remote.Ec2.Simulation;

namespace Coiled.Remote.Ec2.Tests;

/// <summary>
/// What a start checks before anything is billed, against the local EC2 and S3 endpoints: each bad setting fails
/// with a message that says what is wrong and what to do, and leaves nothing behind.
/// </summary>
public sealed class PreflightTests
{
    [LocalS3Fact]
    public async Task StartAsync_TypeNotOfferedInTheSubnetsZone_FailsNamingTheZonesThatOfferItAndLaunchesNothing()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        ec2.NotOffered.Add("c7i.large@us-east-1a");

        var failure = await StartFailureAsync(ec2, ec2.Options() with { SubnetId = "subnet-0a" });

        failure.Message.Should().Contain("c7i.large is not offered in us-east-1a").And.Contain("offers it in us-east-1b").And.Contain("Ec2Options.SubnetId");
        await NothingLeftAsync(ec2);
        (await ec2.S3.ObjectsAsync(LocalEc2Endpoint.StagingBucketName)).Should().BeEmpty("the zone is checked before anything is staged");
    }

    [LocalS3Fact]
    public async Task StartAsync_TypeTheRegionDoesNotHave_FailsSayingSoAndLaunchesNothing()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();

        var failure = await StartFailureAsync(ec2, ec2.Options("c7x.huge"));

        failure.Message.Should().Contain("c7x.huge is not offered in us-east-1").And.Contain("Ec2Options.InstanceType");
        await NothingLeftAsync(ec2);
    }

    [LocalS3Fact]
    public async Task StartAsync_VcpuQuotaTooSmall_SaysTheQuotaAndWhatTheClusterNeedsAndLeavesNothing()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        ec2.StandardVcpuQuota = 32;

        var failure = await StartFailureAsync(ec2, ec2.Options("c7i.4xlarge"), workers: 4);

        failure.Message.Should().StartWith("Quota 32 vCPU for Standard (A, C, D, H, I, M, R, T, Z) instances; this cluster needs 64 (4 x c7i.4xlarge of 16 vCPU)")
            .And.Contain("EC2 launched nothing")
            .And.Contain("'Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances' (L-1216C47A) at https://us-east-1.console.aws.amazon.com/servicequotas/home/services/ec2/quotas/L-1216C47A")
            .And.Contain("aws service-quotas request-service-quota-increase --region us-east-1 --service-code ec2 --quota-code L-1216C47A --desired-value 64");
        ec2.Instances.Should().BeEmpty();
        await NothingLeftAsync(ec2);
    }

    [LocalS3Fact]
    public async Task StartAsync_S3Unreachable_FailsNamingTheBucketBeforeAnyEc2ResourceIsCreated()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var options = ec2.Options() with { S3ServiceUrl = new Uri($"http://127.0.0.1:{ClosedPort()}/") };

        var failure = await StartFailureAsync(ec2, options);

        failure.Message.Should().Contain($"The staging bucket {LocalEc2Endpoint.StagingBucketName} could not be used at {options.S3ServiceUrl}")
            .And.Contain("nothing was started");
        ec2.Calls.Should().NotContain(c => c.Action == "CreateSecurityGroup" || c.Action == "RunInstances");
    }

    [LocalS3Fact]
    public async Task StartAsync_StagingBucketNameTakenByAnotherAccount_StagesNothingThereAndStartsNothing()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        using (var s3 = ec2.S3.Client())
        {
            await s3.PutBucketAsync(LocalEc2Endpoint.StagingBucketName);
        }

        await ec2.S3.MakeForeignAsync(LocalEc2Endpoint.StagingBucketName);

        var failure = await StartFailureAsync(ec2, ec2.Options());

        failure.Message.Should().Contain(LocalEc2Endpoint.StagingBucketName).And.Contain("another AWS account").And.Contain("nothing was started");
        (await ec2.S3.ObjectsAsync(LocalEc2Endpoint.StagingBucketName)).Should().BeEmpty("neither the worker nor the cluster's secrets may go to another account's bucket");
        ec2.Calls.Should().NotContain(c => c.Action == "CreateSecurityGroup" || c.Action == "RunInstances");
    }

    [LocalS3Fact]
    public async Task StartAsync_NoSelfContainedWorkerForTheArchitecture_FailsBeforeAnyAwsCall()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var empty = Directory.CreateTempSubdirectory("coiled-remote-no-bundles-").FullName;
        try
        {
            var backend = new Ec2Backend(ec2.Options("c7g.large"), TestTuning.Fast() with { WorkerBundleDirectory = empty }, TimeProvider.System);

            var start = () => Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = backend });

            (await start.Should().ThrowAsync<ClusterStartException>()).Which.Message
                .Should().Contain("self-contained worker for linux-arm64").And.Contain(empty).And.Contain("nothing was started");
            ec2.Calls.Should().BeEmpty("the worker is looked for before any AWS call, and teardown has nothing to look for");
        }
        finally
        {
            Directory.Delete(empty);
        }
    }

    [Fact]
    public async Task StartAsync_RegionThatDoesNotExist_FailsNamingItBeforeAnyCall()
    {
        var backend = new Ec2Backend(
            new Ec2Options { Region = "us-east-7", Credentials = new Amazon.Runtime.BasicAWSCredentials(LocalS3Endpoint.AccessKey, LocalS3Endpoint.SecretKey) },
            TestTuning.Fast(), TimeProvider.System);

        var start = () => Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = backend });

        (await start.Should().ThrowAsync<ClusterStartException>()).Which.Message.Should().Contain("'us-east-7' is not an AWS region");
    }

    private static async Task<ClusterStartException> StartFailureAsync(LocalEc2Endpoint ec2, Ec2Options options, int workers = 1)
    {
        var start = () => Cluster.StartAsync(new ClusterOptions { Workers = workers, Backend = new Ec2Backend(options, TestTuning.Fast(), TimeProvider.System) });
        return (await start.Should().ThrowAsync<ClusterStartException>()).Which;
    }

    /// <summary>No instance runs, no security group is left, and the boot secrets are gone from the bucket.</summary>
    private static async Task NothingLeftAsync(LocalEc2Endpoint ec2)
    {
        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
        (await ec2.S3.ObjectsAsync(LocalEc2Endpoint.StagingBucketName)).Keys.Should().NotContain(k => k.StartsWith("boot/", StringComparison.Ordinal));
    }

    private static int ClosedPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
