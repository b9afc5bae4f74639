using Coiled.Remote.Ec2.Simulation;

namespace Coiled.Remote.Ec2.Tests.Launch;

/// <summary>The workers' instance profile and root volume, as the local EC2 endpoint receives and checks them.</summary>
public sealed class InstanceSettingsTests
{
    [LocalS3Fact]
    public async Task StartAsync_InstanceProfileAndRootVolume_LaunchesWithThemOnTheImagesRootDevice()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var options = ec2.Options() with { InstanceProfile = "coiled-workers", RootVolumeGiB = 40 };

        await using (var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new Ec2Backend(options, TestTuning.Fast(), TimeProvider.System) }))
        {
            (await cluster.SubmitAsync(Ec2Jobs.Square, 4.0)).Should().Be(16.0);
        }

        var instance = ec2.Instances.Should().ContainSingle().Subject;
        instance.InstanceProfile.Should().Be("coiled-workers");
        instance.RootVolume.Should().Be("40 GiB gp3 encrypted deleted on termination");
        ec2.Calls.Single(c => c.Action == "RunInstances")["BlockDeviceMapping.1.DeviceName"].Should().Be(FakeImage.RootDevice);
    }

    [LocalS3Fact]
    public async Task StartAsync_InstanceProfileByArnOnAGivenImage_DescribesTheImageForItsRootDevice()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var options = ec2.Options() with
        {
            ImageId = "ami-0x86old",
            InstanceProfile = "arn:aws:iam::123456789012:instance-profile/coiled-workers",
            RootVolumeGiB = 16,
        };

        await using (var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new Ec2Backend(options, TestTuning.Fast(), TimeProvider.System) }))
        {
            cluster.Workers.Should().ContainSingle();
        }

        var run = ec2.Calls.Single(c => c.Action == "RunInstances");
        run["IamInstanceProfile.Arn"].Should().Be("arn:aws:iam::123456789012:instance-profile/coiled-workers");
        run["ImageId"].Should().Be("ami-0x86old");
        ec2.Calls.Should().Contain(c => c.Action == "DescribeImages" && c["ImageId.1"] == "ami-0x86old");
        ec2.Instances.Single().RootVolume.Should().StartWith("16 GiB gp3");
    }

    [LocalS3Fact]
    public async Task StartAsync_GivenImageWithALargeRootSnapshot_CountsItsSizeInTheCost()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        ec2.Images.Add(new FakeImage("ami-0gpu75", "Deep Learning OSS Nvidia Driver AMI GPU PyTorch (Amazon Linux 2023)", "x86_64", "2026-06-03T10:00:00.000Z") { RootVolumeGiB = 75 });
        var backend = new Ec2Backend(ec2.Options() with { ImageId = "ami-0gpu75" }, TestTuning.Fast(), TimeProvider.System);

        await using (var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = backend }))
        {
            cluster.Workers.Should().ContainSingle();
        }

        ec2.Calls.Single(c => c.Action == "RunInstances")["BlockDeviceMapping.1.Ebs.VolumeSize"].Should().BeNull("the image's own volume is kept");
        var cost = backend.CostBreakdown;
        // Per second: 75 GB x $0.08 per GB-month of 730 h, against one public IPv4 address at $0.005 an hour.
        (cost.Ebs / cost.PublicIpv4).Should().BeApproximately(75m * 0.08m / 730m / 0.005m, 0.0001m);
    }

    [LocalS3Fact]
    public async Task StartAsync_RootVolumeSmallerThanTheImagesSnapshot_FailsBeforeAnythingIsCreated()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        ec2.Images.Add(new FakeImage("ami-0gpu75", "Deep Learning OSS Nvidia Driver AMI GPU PyTorch (Amazon Linux 2023)", "x86_64", "2026-06-03T10:00:00.000Z") { RootVolumeGiB = 75 });
        var options = ec2.Options() with { ImageId = "ami-0gpu75", RootVolumeGiB = 40 };

        var start = () => Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new Ec2Backend(options, TestTuning.Fast(), TimeProvider.System) });

        (await start.Should().ThrowAsync<ClusterStartException>()).Which.Message.Should().Be(
            "Ec2Options.RootVolumeGiB is 40 GiB, smaller than the root snapshot of the image ami-0gpu75 (75 GiB), which EC2 refuses. " +
            "Nothing was started. Set RootVolumeGiB to 75 or more, or leave it unset for the image's own size.");
        ec2.Calls.Should().NotContain(c => c.Action == "RunInstances" || c.Action == "CreateSecurityGroup");
        ec2.Groups.Should().BeEmpty();
    }

    [LocalS3Fact]
    public async Task StartAsync_InstanceProfileEc2DoesNotKnowYet_AsksAgainUntilItDoes()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var launches = 0;
        ec2.OnCall = call =>
        {
            if (call.Action == "RunInstances" && Interlocked.Increment(ref launches) == 3)
            {
                // The profile created just before the start reaches EC2.
                ec2.InstanceProfiles.Add("just-created");
            }
        };
        var options = ec2.Options() with { InstanceProfile = "just-created" };

        await using (var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new Ec2Backend(options, TestTuning.Fast(), TimeProvider.System) }))
        {
            cluster.Workers.Should().ContainSingle();
        }

        ec2.Calls.Where(c => c.Action == "RunInstances").Select(c => c["NetworkInterface.1.SubnetId"]).Should().Equal("subnet-0a", "subnet-0a", "subnet-0a");
        ec2.Instances.Should().ContainSingle().Which.InstanceProfile.Should().Be("just-created");
    }

    [LocalS3Fact]
    public async Task StartAsync_CredentialsMayNotPassTheProfilesRole_FailsSayingSoAndLeavesNothing()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        ec2.DenyRunInstances = true;
        var options = ec2.Options() with { InstanceProfile = "coiled-workers" };

        var start = () => Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new Ec2Backend(options, TestTuning.Fast(), TimeProvider.System) });

        (await start.Should().ThrowAsync<ClusterStartException>()).Which.Message.Should()
            .StartWith("EC2 refused to launch c7i.large on-demand in us-east-1a (subnet-0a) with the instance profile coiled-workers: these credentials may not launch instances, or may not pass the profile's role (iam:PassRole")
            .And.Contain("aws sts decode-authorization-message").And.EndWith("Encoded authorization failure message: AbCdEf0123");
        ec2.Instances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
    }

    [LocalS3Fact]
    public async Task StartAsync_UnknownInstanceProfile_FailsNamingTheSettingAndLeavesNothing()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var options = ec2.Options() with { InstanceProfile = "no-such-profile" };

        var start = () => Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new Ec2Backend(options, TestTuning.Fast(), TimeProvider.System) });

        (await start.Should().ThrowAsync<ClusterStartException>()).Which.Message.Should()
            .StartWith("EC2 refused the instance profile no-such-profile (Ec2Options.InstanceProfile)").And.Contain("Invalid IAM Instance Profile name").And.Contain("iam:PassRole");
        ec2.Instances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
    }

    [LocalS3Fact]
    public async Task StartAsync_PrivateAddresses_LaunchesWithoutPublicAddressAdmitsTheVpcAndConnectsToThePrivateAddress()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var options = ec2.Options() with { PrivateAddresses = true, AllowIngressFrom = null };
        var tuning = TestTuning.Fast() with { ResolveCallerAddress = _ => throw new InvalidOperationException("a private cluster does not look up the caller's public address") };

        await using (var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new Ec2Backend(options, tuning, TimeProvider.System) }))
        {
            (await cluster.SubmitAsync(Ec2Jobs.Square, 6.0)).Should().Be(36.0);
            var instance = ec2.LiveInstances.Should().ContainSingle().Subject;
            instance.PublicIp.Should().BeNull();
            cluster.Workers.Single().Address.Host.Should().Be(instance.SandboxAddress, "the worker is reached at its private address");
        }

        var run = ec2.Calls.Single(c => c.Action == "RunInstances");
        run["NetworkInterface.1.AssociatePublicIpAddress"].Should().Be("false");
        ec2.Calls.Single(c => c.Action == "AuthorizeSecurityGroupIngress")["IpPermissions.1.IpRanges.1.CidrIp"].Should().Be("172.31.0.0/16", "the default VPC's range");
    }

    [LocalS3Fact]
    public async Task StartAsync_GpuInstance_TheBootScriptLogsTheGpusNvidiaSmiSees()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();

        await using (var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new Ec2Backend(ec2.Options("g5.xlarge"), TestTuning.Fast(), TimeProvider.System) }))
        {
            cluster.Workers.Should().ContainSingle();
        }

        ec2.Instances.Single().Console.Should().Contain("coiled-remote: gpu: GPU 0: NVIDIA A10G (UUID: GPU-00000000-fake)");
    }

    [LocalS3Fact]
    public async Task StartAsync_InstanceWithoutGpu_LogsNoGpuLine()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();

        await using (var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new Ec2Backend(ec2.Options(), TestTuning.Fast(), TimeProvider.System) }))
        {
            cluster.Workers.Should().ContainSingle();
        }

        ec2.Instances.Single().Console.Should().NotContain("coiled-remote: gpu:").And.NotContain("NVIDIA-SMI has failed");
    }

    [Theory]
    [InlineData(7)]
    [InlineData(16385)]
    public void Constructor_RootVolumeOutOfRange_IsRefusedNamingTheRange(int gib)
    {
        var make = () => new Ec2Backend(new Ec2Options { RootVolumeGiB = gib });

        make.Should().Throw<ArgumentOutOfRangeException>().WithMessage("Ec2Options.RootVolumeGiB must be from 8 to 16,384 GiB (gp3)*");
    }
}
