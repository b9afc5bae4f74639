using Coiled.Remote.Ec2.Simulation;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coiled.Remote.Ec2.Tests;

/// <summary>
/// The EC2 backend with the real AWSSDK clients against <see cref="LocalEc2Endpoint"/> and its local S3 endpoint
/// (s3rver). Its instances run the real boot script in a sandbox of this machine where nothing is installed: the
/// script fetches the self-contained worker and the secrets from the staging bucket with presigned addresses and real
/// curl, and `dotnet` there is a stub that fails.
/// </summary>
public sealed class Ec2BackendTests
{
    private static readonly WorkerLaunch OneWorker = Launch(1);

    [LocalS3Fact]
    public async Task StartAsync_LocalEc2SelfContainedWorker_RunsMapAndLeavesNothingBehind()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var logs = new ListLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        var options = ec2.Options() with { Tags = new Dictionary<string, string> { ["team"] = "research" } };
        var backend = new Ec2Backend(options, TestTuning.Fast(), TimeProvider.System);
        var startedAt = DateTimeOffset.UtcNow;
        long syncBytes;

        await using (var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = backend, LoggerFactory = loggerFactory }))
        {
            var squares = await cluster.MapAsync(Ec2Jobs.Square, Enumerable.Range(0, 20).Select(i => (double)i));
            squares.Should().Equal(Enumerable.Range(0, 20).Select(i => (double)(i * i)));
            cluster.Workers.Should().HaveCount(2);
            cluster.Cost.Should().BeGreaterThan(0);
            syncBytes = cluster.Summary.SyncBytes;

            // The boot script fetched the self-contained worker and ran it without any .NET on the machine, and kept the
            // secrets to root.
            var bundle = WorkerBundle.Find(InstanceArchitecture.X64);
            foreach (var instance in ec2.LiveInstances)
            {
                instance.Console.Should().Contain($"coiled-remote: fetching the worker ({bundle.Sha256})").And.Contain("coiled-remote: starting the worker");
                File.Exists(Path.Combine(instance.Sandbox!, "dotnet.log")).Should().BeFalse("nothing on the instance may use an installed .NET");
                var root = Path.Combine(instance.Sandbox!, "opt", "coiled-remote");
                File.Exists(Path.Combine(root, "secrets")).Should().BeFalse("the fetched secrets are split into the token and the certificate");
                File.Exists(Path.Combine(root, $"worker-{bundle.Sha256}", "coiled-remote-worker")).Should().BeTrue();
                File.GetUnixFileMode(Path.Combine(root, "token")).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite);
                File.GetUnixFileMode(Path.Combine(root, "worker.pfx")).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite);
                File.ReadAllText(Path.Combine(instance.Sandbox!, "power.log")).Should().Contain("shutdown -P +720 coiled-remote: maximum lifetime reached");
            }
        }

        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();

        // The staging bucket keeps the worker and the application's files, keyed by SHA-256, for the next cluster; the
        // boot secrets are gone. The caller uploaded each of them once although two workers fetched them, and nothing
        // else: what it staged is their sizes plus the small secrets object.
        var staged = await ec2.S3.ObjectsAsync(LocalEc2Endpoint.StagingBucketName);
        var worker = WorkerBundle.Find(InstanceArchitecture.X64);
        staged.Should().Contain(S3Staging.ContentKey(worker.Sha256), worker.Size);
        staged.Keys.Should().OnlyContain(k => k.StartsWith("sha256/", StringComparison.Ordinal));
        staged.Count.Should().BeGreaterThan(10, "the application's files are staged beside the worker");
        (backend.BytesStaged - staged.Values.Sum()).Should().BeInRange(1, 10_000, "each file was uploaded once; the rest is the boot secrets");
        syncBytes.Should().Be(0, "the workers fetched the application from the bucket: the caller sent them nothing directly");
        using (var s3 = ec2.S3.Client())
        {
            var lifecycle = await s3.GetLifecycleConfigurationAsync(new Amazon.S3.Model.GetLifecycleConfigurationRequest { BucketName = LocalEc2Endpoint.StagingBucketName });
            lifecycle.Configuration.Rules.Should().ContainSingle().Which.Expiration.Days.Should().Be(1);
            var block = await s3.GetPublicAccessBlockAsync(new Amazon.S3.Model.GetPublicAccessBlockRequest { BucketName = LocalEc2Endpoint.StagingBucketName });
            block.PublicAccessBlockConfiguration.BlockPublicAcls.Should().BeTrue();
            block.PublicAccessBlockConfiguration.RestrictPublicBuckets.Should().BeTrue();
        }

        // A day later the bucket's lifecycle has removed what was staged.
        (await ec2.S3.ExpireAsync(DateTimeOffset.UtcNow.AddDays(1).AddMinutes(1))).Should().Be(staged.Count);
        (await ec2.S3.ObjectsAsync(LocalEc2Endpoint.StagingBucketName)).Should().BeEmpty();

        // The account first; image and subnet are looked up together; the type is offered in the zone; then the group,
        // its rule, the launch; boot; teardown.
        var actions = ec2.Calls.Select(c => c.Action).ToList();
        actions[0].Should().Be("GetCallerIdentity");
        actions.Skip(1).Take(2).Should().BeEquivalentTo(["DescribeImages", "DescribeSubnets"]);
        string.Join(" ", actions.Skip(3)).Should().MatchRegex(
            "^DescribeInstanceTypeOfferings CreateSecurityGroup AuthorizeSecurityGroupIngress RunInstances( DescribeInstances)+ TerminateInstances( DescribeInstances)+ DeleteSecurityGroup DeleteSecurityGroup DeleteSecurityGroup$");

        var group = ec2.Calls.Single(c => c.Action == "CreateSecurityGroup");
        group["VpcId"].Should().Be(LocalEc2Endpoint.DefaultVpc);
        var ingress = ec2.Calls.Single(c => c.Action == "AuthorizeSecurityGroupIngress");
        ingress.Parameters.Where(p => p.Key.StartsWith("IpPermissions.", StringComparison.Ordinal) && !p.Key.EndsWith("Description", StringComparison.Ordinal))
            .Should().BeEquivalentTo(new Dictionary<string, string>
            {
                ["IpPermissions.1.IpProtocol"] = "tcp",
                ["IpPermissions.1.FromPort"] = options.WorkerPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["IpPermissions.1.ToPort"] = options.WorkerPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["IpPermissions.1.IpRanges.1.CidrIp"] = "203.0.113.7/32",
            });

        var run = ec2.Calls.Single(c => c.Action == "RunInstances");
        run["ImageId"].Should().Be("ami-0x86new", "the newest standard AL2023 x86_64 image, not minimal nor AL2");
        run["InstanceType"].Should().Be("c7i.large");
        run["MinCount"].Should().Be("1", "a launch takes whatever capacity there is, and the start tops up");
        run["MaxCount"].Should().Be("2");
        run["InstanceInitiatedShutdownBehavior"].Should().Be("terminate");
        run["MetadataOptions.HttpTokens"].Should().Be("required");
        run["NetworkInterface.1.SubnetId"].Should().Be("subnet-0a", "one default subnet, the first zone");
        run["NetworkInterface.1.SecurityGroupId.1"].Should().Be(backend.SecurityGroupId);
        run["NetworkInterface.1.DeleteOnTermination"].Should().Be("true");
        run["InstanceMarketOptions.MarketType"].Should().BeNull();
        run["ClientToken"].Should().StartWith(backend.ClusterName);
        foreach (var resource in new[] { "instance", "volume", "network-interface" })
        {
            var tags = run.TagsFor(resource);
            tags.Should().Contain(ClusterTags.Cluster, backend.ClusterName).And.Contain("team", "research");
            tags[ClusterTags.Owner].Should().Be(OwnerIdentity.Current.ToString());
            // The launch's time plus MaxLifetime (12 h), in whole seconds: between the start and now, whatever either took.
            ClusterTags.ParseExpiry(tags[ClusterTags.Expires]).Should().BeOnOrAfter(startedAt.AddHours(12).AddSeconds(-1)).And.BeOnOrBefore(DateTimeOffset.UtcNow.AddHours(12));
        }

        group.TagsFor("security-group").Should().Contain(ClusterTags.Cluster, backend.ClusterName).And.ContainKeys(ClusterTags.Owner, ClusterTags.Expires);
        // The credential the backend signed its calls with never appears in what every instance can read.
        var credential = await options.Credentials!.GetCredentialsAsync();
        ec2.Calls.Should().OnlyContain(c => c.AccessKeyId == credential.AccessKey, "every call is signed with Ec2Options.Credentials");
        var script = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(run["UserData"]!));
        script.Should().StartWith("#!/bin/bash\n", "the user data decodes to the boot script");
        script.Should().NotContain(credential.SecretKey);
        // The access key id (not a secret, AWS says) appears only as the signer of the presigned addresses.
        System.Text.RegularExpressions.Regex.Matches(script, credential.AccessKey).Should().HaveCount(2);
        System.Text.RegularExpressions.Regex.Matches(script, "X-Amz-Credential=" + credential.AccessKey).Should().HaveCount(2);
        script.Should().NotContain(Launch(1).Token, "the cluster token reaches the instances through the expiring secrets object, not the user data");
        script.Should().NotContain("CERTIFICATE");

        logs.Lines.Should().Contain(l => System.Text.RegularExpressions.Regex.IsMatch(
            l, @"^2 x c7i\.large \(on-demand\) for (\d+h)?(\d+m)?(\d+s)?: instances \$0\.\d{3} \+ public IPv4 \$0\.\d{3} \+ EBS \$0\.\d{3} = \$0\.\d{3}$"));
    }

    [LocalS3Fact]
    public async Task Summary_LocalEc2TwoInstances_PaysEachFromItsLaunchAtLeastAMinuteAndPricesTheIdleShare()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var logs = new ListLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs));
        var backend = new Ec2Backend(ec2.Options(), TestTuning.Fast(), TimeProvider.System);
        var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = backend, LoggerFactory = loggerFactory });
        await using (cluster)
        {
            (await cluster.MapAsync(Ec2Jobs.Square, Enumerable.Range(0, 20).Select(i => (double)i))).Should().HaveCount(20);
        }

        var summary = cluster.Summary;
        summary.PaidWorkerSeconds.Should().BeGreaterThanOrEqualTo(120, "EC2 bills each of the two instances a minute at least");
        summary.PaidWorkerSeconds.Should().BeGreaterThan(summary.WorkerSeconds, "an instance is paid for from its launch, before its worker connects");
        summary.BusyWorkerSeconds.Should().BeGreaterThan(0).And.BeLessThan(summary.WorkerSeconds);
        summary.IdleShare.Should().BeApproximately(1 - (summary.BusyWorkerSeconds / summary.PaidWorkerSeconds), 1e-12);
        summary.IdleCost.Should().Be(summary.Cost!.Value * (decimal)summary.IdleShare).And.BeGreaterThan(0);
        logs.Lines.Should().ContainSingle(l => l.Contains("Cluster closed: 20 task(s) run, 0 failed, 0 retried; 2 worker(s) for ", StringComparison.Ordinal))
            .Which.Should().Contain(FormattableString.Invariant($", idle cost ${summary.IdleCost:0.0000}; "));
    }

    [LocalS3Fact]
    public async Task StartAsync_LocalEc2SelfContainedWorker_GravitonSpot_PicksArm64ImageAndSpotPrice()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        using var bundles = new Arm64AsX64Bundles();
        var started = System.Diagnostics.Stopwatch.StartNew();
        await using var backend = new Ec2Backend(ec2.Options("c7g.large", spot: true), TestTuning.Fast() with { WorkerBundleDirectory = bundles.Path }, TimeProvider.System);

        var endpoints = await backend.StartWorkersAsync(OneWorker, CancellationToken.None);

        endpoints.Should().ContainSingle().Which.Address.Scheme.Should().Be("https");
        var run = ec2.Calls.Single(c => c.Action == "RunInstances");
        run["ImageId"].Should().Be("ami-0armnew");
        run["InstanceMarketOptions.MarketType"].Should().Be("spot");
        run["InstanceMarketOptions.SpotOptions.SpotInstanceType"].Should().Be("one-time");
        run["InstanceMarketOptions.SpotOptions.InstanceInterruptionBehavior"].Should().Be("terminate");
        run["InstanceMarketOptions.SpotOptions.MaxPrice"].Should().BeNull();
        run.TagsFor("spot-instances-request").Should().ContainKey(ClusterTags.Cluster);
        ec2.Calls.Single(c => c.Action == "DescribeSpotPriceHistory")["AvailabilityZone"].Should().Be("us-east-1a");
        // A spot instance running under a minute bills one minute at the spot price, plus its address and volume per second.
        var atMost = started.Elapsed;
        var minute = InstancePrices.For(0.0312m, TimeSpan.FromMinutes(1));
        backend.Cost.Should().BeGreaterThan(minute).And.BeLessThan(minute + InstancePrices.PublicIpv4For(atMost) + InstancePrices.EbsFor(AmazonLinuxImage.RootVolumeGiB, atMost));
    }

    [LocalS3Fact]
    public async Task StartAsync_LocalEc2SelfContainedWorker_SpotCapacityError_FallsBackToOnDemand()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        ec2.SpotError = "InsufficientInstanceCapacity";
        await using (var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 1,
            Backend = new Ec2Backend(ec2.Options(spot: true), TestTuning.Fast(), TimeProvider.System),
        }))
        {
            (await cluster.SubmitAsync(Ec2Jobs.Square, 3.0)).Should().Be(9.0);
        }

        // Spot in every zone first, then on-demand in the first.
        var runs = ec2.Calls.Where(c => c.Action == "RunInstances").ToList();
        runs.Select(r => (r["InstanceMarketOptions.MarketType"], r["NetworkInterface.1.SubnetId"])).Should().Equal(("spot", "subnet-0a"), ("spot", "subnet-0b"), (null, "subnet-0a"));
        runs.Select(r => r["ClientToken"]).Should().OnlyHaveUniqueItems();
        ec2.Instances.Should().ContainSingle().Which.Spot.Should().BeFalse();
        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
    }

    [LocalS3Fact]
    public async Task StartAsync_LocalEc2StagedWorkerAlteredInS3_InstanceRefusesItAndStartFailsWithConsoleOutputLeavingNothing()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var bundle = WorkerBundle.Find(InstanceArchitecture.X64);
        ec2.OnCall = call =>
        {
            if (call.Action == "RunInstances")
            {
                // Someone with write access to the bucket swaps the worker for other bytes of the same size.
                using var s3 = ec2.S3.Client();
                s3.PutObjectAsync(new Amazon.S3.Model.PutObjectRequest
                {
                    BucketName = LocalEc2Endpoint.StagingBucketName,
                    Key = S3Staging.ContentKey(bundle.Sha256),
                    InputStream = new MemoryStream(new byte[bundle.Size]),
                    UseChunkEncoding = false,
                }).GetAwaiter().GetResult();
            }
        };
        var start = () => Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new Ec2Backend(ec2.Options(), TestTuning.Fast(), TimeProvider.System) });

        var failure = await start.Should().ThrowAsync<ClusterStartException>();

        var instance = ec2.Instances.Should().ContainSingle().Subject;
        failure.Which.Message.Should().Contain(instance.Id).And.Contain("while booting").And.Contain("FAILED");
        instance.Console.Should().NotContain("starting the worker", "a worker whose SHA-256 does not match is never run");
        instance.StateReason.Should().Contain("InstanceInitiatedShutdown", "the failed boot script powered the machine off, which terminated it");
        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
        (await ec2.S3.ObjectsAsync(LocalEc2Endpoint.StagingBucketName)).Keys.Should().NotContain(k => k.StartsWith("boot/", StringComparison.Ordinal));
    }

    [LocalS3Fact]
    public async Task StartAsync_AgainstLocalEc2Endpoint_WorkerNeverAnswers_TimesOutNamingInstancesAndCleansUp()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        ec2.BootInstances = false;
        var tuning = TestTuning.Fast() with { BootTimeout = TimeSpan.FromSeconds(1.5) };
        var backend = new Ec2Backend(ec2.Options(), tuning, TimeProvider.System);

        var start = () => backend.StartWorkersAsync(Launch(2), CancellationToken.None);

        var failure = await start.Should().ThrowAsync<ClusterStartException>();
        failure.Which.Message.Should().Contain("did not start a worker").And.Contain("console output");
        foreach (var instance in ec2.Instances)
        {
            failure.Which.Message.Should().Contain(instance.Id);
        }

        ec2.Calls.Should().Contain(c => c.Action == "GetConsoleOutput");
        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
    }

    [LocalS3Fact]
    public async Task StartAsync_AgainstLocalEc2Endpoint_CancelledBeforeRunInstancesAnswered_TerminatesWhatWasLaunched()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        using var cancel = new CancellationTokenSource();
        var lost = 0;
        ec2.AfterAnswer = call =>
        {
            if (call.Action == "RunInstances" && Interlocked.Exchange(ref lost, 1) == 0)
            {
                // Cancelled after EC2 launched: the answer with the instance ids never reaches the caller.
                cancel.Cancel();
                Thread.Sleep(300);
            }
        };
        var backend = new Ec2Backend(ec2.Options(), TestTuning.Fast(), TimeProvider.System);

        var start = () => Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = backend }, cancel.Token);

        await start.Should().ThrowAsync<OperationCanceledException>();
        ec2.Instances.Should().HaveCount(2);
        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
        ec2.Calls.Where(c => c.Action == "RunInstances").Should().ContainSingle("teardown finds the launch's instances by its client token, never by launching again");
        var token = ec2.Calls.First(r => r.Action == "RunInstances")["ClientToken"]!;
        ec2.Calls.Where(c => c.Action == "DescribeInstances").Select(c => c.Filters()).Should().Contain(f => f.ContainsKey("client-token") && f["client-token"].Contains(token));
    }

    [LocalS3Fact]
    public async Task StartAsync_AgainstLocalEc2Endpoint_LaunchLostBeforeItReachedEc2_TeardownLaunchesNothingAndSaysSo()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        ec2.LoseRunInstances = true;
        ec2.OnCall = call =>
        {
            if (call.Action == "DescribeInstances" && call.Filters().ContainsKey("client-token"))
            {
                // Teardown looks for the lost launch's instances: a RunInstances sent from now on would reach EC2.
                ec2.LoseRunInstances = false;
            }
        };
        var logs = new ListLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        var backend = new Ec2Backend(ec2.Options(), TestTuning.Fast(), TimeProvider.System);

        var start = () => Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = backend, LoggerFactory = loggerFactory });

        await start.Should().ThrowAsync<Exception>();
        ec2.LoseRunInstances.Should().BeFalse("teardown looked for the lost launch's instances by its client token");
        ec2.Instances.Should().BeEmpty("teardown never launches");
        ec2.Calls.Where(c => c.Action == "RunInstances").Select(c => c["ClientToken"]).Distinct().Should().ContainSingle("only the SDK's own retries of the one launch were sent");
        ec2.Groups.Should().BeEmpty();
        logs.Lines.Should().Contain(m => m.Contains("that unanswered launch started nothing"));
    }

    [LocalS3Fact]
    public async Task DisposeAsync_OneInstanceNotYetKnownToTerminateInstances_TheOthersAreTerminatedAtOnceAndItOnceKnown()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var backend = new Ec2Backend(ec2.Options(), TestTuning.Fast(), TimeProvider.System);
        await backend.StartWorkersAsync(Launch(2), CancellationToken.None);
        var (known, late) = (ec2.Instances[0].Id, ec2.Instances[1].Id);
        ec2.TerminateUnknown[late] = 4;

        await backend.DisposeAsync();

        var terminations = ec2.Calls.Where(c => c.Action == "TerminateInstances").Select(c => string.Join(",", c.List("InstanceId").Order(StringComparer.Ordinal))).ToList();
        terminations.Take(2).Should().Equal(string.Join(",", new[] { known, late }.Order(StringComparer.Ordinal)), known);
        terminations.Skip(2).Should().AllBe(late).And.HaveCount(4, "three more refusals, then the call EC2 acted on");
        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
    }

    [LocalS3Fact]
    public async Task DisposeAsync_TerminateInstancesAnswersNotFoundForAWhile_RetriesUntilEc2KnowsTheInstances()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var backend = new Ec2Backend(ec2.Options(), TestTuning.Fast(), TimeProvider.System);
        await backend.StartWorkersAsync(OneWorker, CancellationToken.None);
        ec2.TerminateNotFoundTimes = 8;

        await backend.DisposeAsync();

        ec2.TerminateNotFoundTimes.Should().Be(0);
        ec2.Calls.Count(c => c.Action == "TerminateInstances").Should().Be(9, "eight refusals, then the call EC2 acted on");
        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
    }

    [LocalS3Fact]
    public async Task Interrupt_AgainstLocalEc2Endpoint_WhileBooting_CancelsStartAndCleansUp()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        ec2.BootInstances = false;
        var backend = new Ec2Backend(ec2.Options(), TestTuning.Fast(), TimeProvider.System);
        var interrupted = 0;
        ec2.OnCall = call =>
        {
            if (call.Action == "DescribeInstances" && Interlocked.Exchange(ref interrupted, 1) == 0)
            {
                // What Ctrl+C does while instances boot.
                _ = backend.InterruptAsync(exitProcess: false);
            }
        };

        var start = () => backend.StartWorkersAsync(Launch(2), CancellationToken.None);

        (await start.Should().ThrowAsync<OperationCanceledException>()).Which.Message.Should().Contain("interrupted");
        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
    }

    [LocalS3Fact]
    public async Task Interrupt_LocalEc2SelfContainedWorker_WhileRunning_TearsDown()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        await using var backend = new Ec2Backend(ec2.Options(), TestTuning.Fast(), TimeProvider.System);
        await backend.StartWorkersAsync(OneWorker, CancellationToken.None);

        await backend.InterruptAsync(exitProcess: false);

        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
    }

    [LocalS3Fact]
    public async Task Worker_LocalEc2SelfContainedWorker_NoClientConnects_PowersOffAndInstanceTerminatesItself()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        // A worker no client ever reached waits for its first one as long as a fleet may take to find capacity and to
        // boot, and a little more.
        await using var backend = new Ec2Backend(
            ec2.Options() with { CapacityTimeout = TimeSpan.FromSeconds(5) }, TestTuning.Fast() with { BootTimeout = TimeSpan.FromSeconds(20) }, TimeProvider.System);
        await backend.StartWorkersAsync(Launch(1, noClient: TimeSpan.FromSeconds(1)), CancellationToken.None);
        var instance = ec2.Instances.Single();

        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        while (instance.State != "terminated")
        {
            await Task.Delay(100, timeout.Token);
        }

        instance.StateReason.Should().Contain("InstanceInitiatedShutdown");
        instance.Console.Should().Contain("(first-client timeout 26 s)").And.Contain("coiled-remote: powering off");
        File.ReadAllText(Path.Combine(instance.Sandbox!, "power.log")).Should().Contain("systemctl poweroff");
    }

    [LocalS3Fact]
    public async Task StartAsync_AgainstLocalEc2Endpoint_NoDefaultVpc_FailsWithAdviceAndCreatesNothing()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        ec2.Subnets.RemoveAll(s => s.DefaultForAz);
        var backend = new Ec2Backend(ec2.Options(), TestTuning.Fast(), TimeProvider.System);

        var start = () => Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = backend });

        (await start.Should().ThrowAsync<ClusterStartException>()).Which.Message
            .Should().Contain("no default VPC").And.Contain("aws ec2 create-default-vpc").And.Contain("Ec2Options.SubnetId");
        ec2.Calls.Should().NotContain(c => c.Action == "CreateSecurityGroup" || c.Action == "RunInstances");
    }

    [LocalS3Fact]
    public async Task StartAsync_LocalEc2SelfContainedWorker_GivenSubnetImageAndIngress_UsesThem()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var options = ec2.Options() with { SubnetId = "subnet-0b", ImageId = "ami-0x86old", AllowIngressFrom = "198.51.100.0/24", KeyName = "my-key" };
        await using var backend = new Ec2Backend(options, TestTuning.Fast(), TimeProvider.System);

        await backend.StartWorkersAsync(OneWorker, CancellationToken.None);

        // The given image is only described (for its root volume's size), never searched for.
        ec2.Calls.Where(c => c.Action == "DescribeImages").Should().ContainSingle().Which["ImageId.1"].Should().Be("ami-0x86old");
        var run = ec2.Calls.Single(c => c.Action == "RunInstances");
        run["ImageId"].Should().Be("ami-0x86old");
        run["NetworkInterface.1.SubnetId"].Should().Be("subnet-0b");
        run["KeyName"].Should().Be("my-key");
        var rules = ec2.Groups.Single().Ingress;
        rules.Select(r => r.FromPort).Should().BeEquivalentTo([options.WorkerPort, 22]);
        rules.Select(r => r.ToPort).Should().BeEquivalentTo([options.WorkerPort, 22], "the worker's one port carries gRPC and bulk data");
        rules.Should().OnlyContain(r => r.Ranges.SequenceEqual(new[] { "198.51.100.0/24" }));
    }

    [LocalS3Fact]
    public async Task StartAsync_LocalEc2SelfContainedWorker_ForwardAwsCredentials_GivesTasksTheCallersCredentialsOutsideUserData()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var options = ec2.Options() with { ForwardAwsCredentials = true };
        await using var backend = new Ec2Backend(options, TestTuning.Fast(), TimeProvider.System);

        var endpoints = await backend.StartWorkersAsync(OneWorker, CancellationToken.None);

        var variables = endpoints.Should().ContainSingle().Which.EnvironmentVariables;
        variables.Should().NotBeNull();
        variables!["AWS_ACCESS_KEY_ID"].Should().NotBeNullOrEmpty();
        variables["AWS_SECRET_ACCESS_KEY"].Should().NotBeNullOrEmpty();
        variables["AWS_REGION"].Should().Be(options.Region);
        var userData = ec2.Calls.Single(c => c.Action == "RunInstances")["UserData"]!;
        var script = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(userData));
        script.Should().NotContain(variables["AWS_SECRET_ACCESS_KEY"], "credentials never travel in user data");
    }

    internal static WorkerLaunch Launch(int count, TimeSpan? noClient = null)
        => new(count, "local-ec2-test-token-0123456789", TimeSpan.FromMinutes(10), noClient ?? TimeSpan.FromMinutes(10), NullLoggerFactory.Instance);
}
