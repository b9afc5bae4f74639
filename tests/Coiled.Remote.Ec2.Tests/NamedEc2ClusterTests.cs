using Coiled.Remote.Ec2.Simulation;
using Coiled.Remote.KeptClusters;
using Coiled.Remote.Tests.Support;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coiled.Remote.Ec2.Tests;

/// <summary>Named EC2 clusters kept after their client, on the local EC2 and S3 endpoints with real workers.</summary>
public sealed class NamedEc2ClusterTests : IDisposable
{
    private const string Name = "ec2-warm";
    private static readonly TimeSpan KeepAlive = TimeSpan.FromMinutes(10);
    private readonly DirectoryInfo _registry = Directory.CreateTempSubdirectory("coiled-remote-ec2-registry-");

    public void Dispose() => _registry.Delete(recursive: true);

    [LocalS3Fact]
    public async Task StartAsync_NamedWithKeepAlive_InstancesOutliveDisposalAndCleanupAndTheNextStartAttachesWithoutLaunching()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var logs = new ListLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs));

        await using (var cluster = await Cluster.StartAsync(Options(ec2, KeepAlive, loggerFactory)))
        {
            (await cluster.MapAsync(Ec2Jobs.Square, [1.0, 2.0])).Should().Equal(1.0, 4.0);
        }

        // Left running, tagged as kept, each waiting 10 minutes for a client; the registry knows them.
        var kept = ec2.LiveInstances;
        kept.Should().HaveCount(2).And.OnlyContain(i => i.State == "running");
        kept.Should().OnlyContain(i => i.Tags[ClusterTags.KeptAs] == Name && i.Tags[ClusterTags.KeepAlive] == "00:10:00");
        kept.Should().OnlyContain(i => i.UserData.Contains("no_client_timeout=600", StringComparison.Ordinal));
        ec2.Groups.Should().ContainSingle();
        var entry = new ClusterRegistry(_registry.FullName).Read(Name)!;
        entry.Backend.Should().Be("EC2");
        entry.Properties.Should().Contain("region", LocalEc2Endpoint.Region).And.ContainKey("securityGroup");
        entry.Workers.Select(w => w.InstanceId).Should().BeEquivalentTo(kept.Select(i => i.Id));
        entry.Workers.Should().OnlyContain(w => w.CertificateThumbprint != null && w.CertificateThumbprint.Length == 64);
        logs.Lines.Should().Contain(m => m.StartsWith($"Left the 2 instance(s) of named cluster {Name} (", StringComparison.Ordinal));

        // Its owner is gone as far as cleanup knows: a kept cluster stays all the same while its instances run.
        var sweeper = new Ec2Sweeper(ec2.Options(), TestTuning.Fast() with { IsProcessAlive = _ => false }, TimeProvider.System, NullLogger.Instance);
        var report = await sweeper.CleanupAsync(includeLiveClusters: false, CancellationToken.None);
        report.Removed.Should().BeEmpty();
        report.Kept.Should().ContainSingle().Which.KeptAs.Should().Be(Name);
        (await Ec2Backend.CountRunningAsync(ec2.Options(), entry, CancellationToken.None)).Should().Be(2);

        // The next start of the name attaches to the same instances: nothing launched, nothing new created.
        var launches = ec2.Calls.Count(c => c.Action == "RunInstances");
        var groups = ec2.Calls.Count(c => c.Action == "CreateSecurityGroup");
        var attaching = Options(ec2, KeepAlive, loggerFactory);
        await using (var cluster = await Cluster.StartAsync(attaching))
        {
            (await cluster.MapAsync(Ec2Jobs.Square, [3.0, 4.0, 5.0])).Should().Equal(9.0, 16.0, 25.0);
            cluster.Workers.Should().HaveCount(2);
            ((Ec2Backend)attaching.Backend!).InstanceIds.Should().BeEquivalentTo(kept.Select(i => i.Id));
        }

        ec2.Calls.Count(c => c.Action == "RunInstances").Should().Be(launches);
        ec2.Calls.Count(c => c.Action == "CreateSecurityGroup").Should().Be(groups);
        ec2.LiveInstances.Select(i => i.Id).Should().BeEquivalentTo(kept.Select(i => i.Id));

        // KeepAlive zero on the running name: it attaches, and its disposal terminates the instances, deletes the
        // security group and forgets the name.
        await using (var cluster = await Cluster.StartAsync(Options(ec2, TimeSpan.Zero, loggerFactory)))
        {
            (await cluster.MapAsync(Ec2Jobs.Square, [6.0])).Should().Equal(36.0);
            ec2.Calls.Count(c => c.Action == "RunInstances").Should().Be(launches);
        }

        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
        new ClusterRegistry(_registry.FullName).Read(Name).Should().BeNull();
    }

    [LocalS3Fact]
    public async Task StartAsync_KeptClusterLostAnInstance_AttachesToTheOtherAddsAKeptOneAndStopTerminatesAllAndForgetsTheName()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        await using (var cluster = await Cluster.StartAsync(Options(ec2, KeepAlive)))
        {
            (await cluster.MapAsync(Ec2Jobs.Square, [1.0])).Should().Equal(1.0);
        }

        var (lost, left) = (ec2.LiveInstances[0], ec2.LiveInstances[1]);
        ec2.Reclaim(lost);
        await Eventually.HoldsAsync(() => ec2.LiveInstances.Count == 1, "the reclaimed instance to end", TimeSpan.FromMinutes(1));

        // One of two runs: the start attaches to it and launches one more, into the same security group, kept too.
        await using (var cluster = await Cluster.StartAsync(Options(ec2, KeepAlive)))
        {
            cluster.Workers.Should().HaveCount(2);
            (await cluster.MapAsync(Ec2Jobs.Square, [2.0, 3.0])).Should().Equal(4.0, 9.0);
        }

        var running = ec2.LiveInstances;
        running.Should().HaveCount(2).And.Contain(i => i.Id == left.Id);
        running.Should().OnlyContain(i => i.Tags[ClusterTags.KeptAs] == Name && i.GroupIds.SequenceEqual(left.GroupIds));
        new ClusterRegistry(_registry.FullName).Read(Name)!.Workers.Select(w => w.InstanceId).Should().BeEquivalentTo(running.Select(i => i.Id));

        // `coiled-remote stop NAME`: terminated, waited for, the security group deleted, the name forgotten.
        var stopped = await NamedClusters.StopAsync(
            new ClusterRegistry(_registry.FullName), null, Name, _ => new Ec2Backend(ec2.Options(), Tuning(), TimeProvider.System), CancellationToken.None);

        stopped.Should().Be(2);
        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
        new ClusterRegistry(_registry.FullName).Read(Name).Should().BeNull();
    }

    [LocalS3Fact]
    public async Task StartAsync_KeptClusterWhoseInstancesEnded_CleanupRemovesItsGroupAndTheNextStartLaunchesANewClusterSayingSo()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        await using (var cluster = await Cluster.StartAsync(Options(ec2, KeepAlive) with { Workers = 1 }))
        {
            (await cluster.MapAsync(Ec2Jobs.Square, [1.0])).Should().Equal(1.0);
        }

        var ended = ec2.LiveInstances.Should().ContainSingle().Subject;
        var group = ec2.Groups.Should().ContainSingle().Subject.GroupId;
        ec2.Reclaim(ended, "Client.InstanceInitiatedShutdown: Instance initiated shutdown");
        await Eventually.HoldsAsync(() => ec2.LiveInstances.Count == 0, "the instance to power itself off", TimeSpan.FromMinutes(1));

        // While its owner lives, cleanup keeps what is left of a kept cluster (its owner may be adding instances); once
        // its owner is gone, it removes it.
        var alive = await new Ec2Sweeper(ec2.Options(), TestTuning.Fast(), TimeProvider.System, NullLogger.Instance).CleanupAsync(false, CancellationToken.None);
        alive.Removed.Should().BeEmpty();
        ec2.Groups.Should().ContainSingle();
        var gone = await new Ec2Sweeper(ec2.Options(), TestTuning.Fast() with { IsProcessAlive = _ => false }, TimeProvider.System, NullLogger.Instance)
            .CleanupAsync(false, CancellationToken.None);
        gone.Removed.Should().ContainSingle().Which.StaleReason.Should().StartWith("its owner, process ");
        ec2.Groups.Should().BeEmpty();

        // The registry still names it: the next start finds nothing running, says so, and starts a new cluster.
        var logs = new ListLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs));
        await using (var cluster = await Cluster.StartAsync(Options(ec2, KeepAlive, loggerFactory) with { Workers = 1 }))
        {
            (await cluster.MapAsync(Ec2Jobs.Square, [2.0])).Should().Equal(4.0);
            ec2.LiveInstances.Should().ContainSingle().Which.Id.Should().NotBe(ended.Id);
            ec2.Groups.Should().ContainSingle().Which.GroupId.Should().NotBe(group);
        }

        logs.Lines.Should().Contain(l => l.Contains($"Named cluster {Name}", StringComparison.Ordinal) && l.Contains("starting a new", StringComparison.OrdinalIgnoreCase));
        await NamedClusters.StopAsync(new ClusterRegistry(_registry.FullName), null, Name, _ => new Ec2Backend(ec2.Options(), Tuning(), TimeProvider.System), CancellationToken.None);
        ec2.LiveInstances.Should().BeEmpty();
    }

    [LocalS3Fact]
    public async Task DisposeAsync_TwoProcessesAttachedToOneName_EachKeepsTheInstancesTheOtherAddedInTheRegistry_AndStopEndsEveryTaggedInstance()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        await using (var cluster = await Cluster.StartAsync(Options(ec2, KeepAlive) with { Workers = 1 }))
        {
            (await cluster.MapAsync(Ec2Jobs.Square, [1.0])).Should().Equal(1.0);
        }

        var first = ec2.LiveInstances.Should().ContainSingle().Subject;
        var a = await Cluster.StartAsync(Options(ec2, KeepAlive) with { Workers = 1 });
        var b = await Cluster.StartAsync(Options(ec2, KeepAlive) with { Workers = 2 });
        b.Workers.Should().HaveCount(2);
        await b.DisposeAsync();
        await a.DisposeAsync();

        // The last to let go kept the instance the other one added.
        var live = ec2.LiveInstances;
        live.Should().HaveCount(2);
        new ClusterRegistry(_registry.FullName).Read(Name)!.Workers.Select(w => w.InstanceId).Should().BeEquivalentTo(live.Select(i => i.Id));

        // Even an instance the registry would not know is found by the cluster's tag and ended by `stop`.
        ec2.Reclaim(first, "Client.InstanceInitiatedShutdown: Instance initiated shutdown");
        await Eventually.HoldsAsync(() => ec2.LiveInstances.All(i => i.Id != first.Id), "the instance to power itself off", TimeSpan.FromMinutes(1));
        var registry = new ClusterRegistry(_registry.FullName);
        using (await registry.LockAsync(Name, TimeSpan.FromSeconds(5), TimeProvider.System, CancellationToken.None))
        {
            registry.Write(registry.Read(Name)! with { Workers = [.. registry.Read(Name)!.Workers.Where(w => w.InstanceId == first.Id)] });
        }

        await NamedClusters.StopAsync(registry, null, Name, _ => new Ec2Backend(ec2.Options(), Tuning(), TimeProvider.System), CancellationToken.None);

        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
        registry.Read(Name).Should().BeNull();
    }

    [LocalS3Fact]
    public async Task DisposeAsync_KeptClusterWithAnInstanceStillBooting_KeepsTheOneThatCameAndTerminatesTheOneThatDidNot()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var booted = 0;
        ec2.BootGate = _ => Interlocked.Increment(ref booted) == 1 ? Task.CompletedTask : never.Task;

        await using (var cluster = await Cluster.StartAsync(Options(ec2, KeepAlive) with { MinimumWorkers = 1 }))
        {
            cluster.Workers.Should().ContainSingle();
            (await cluster.MapAsync(Ec2Jobs.Square, [2.0])).Should().Equal(4.0);
        }

        // The registry lists the instance whose worker came; the one still booting is nobody's, so it went.
        var entry = new ClusterRegistry(_registry.FullName).Read(Name)!;
        ec2.Instances.Should().HaveCount(2);
        var kept = ec2.Instances.Should().ContainSingle(i => i.State == "running").Subject;
        entry.Workers.Select(w => w.InstanceId).Should().Equal(kept.Id);
        ec2.Instances.Single(i => i.Id != kept.Id).State.Should().BeOneOf(["shutting-down", "terminated"], "its termination was asked for at disposal");
        never.SetResult();

        await NamedClusters.StopAsync(
            new ClusterRegistry(_registry.FullName), null, Name, _ => new Ec2Backend(ec2.Options(), Tuning(), TimeProvider.System), CancellationToken.None);
        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
    }

    [LocalS3Fact]
    public async Task StartAsync_NamedClusterRegisteredInAnotherRegion_FailsNamingBothRegionsAndLaunchesNothing()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var registry = new ClusterRegistry(_registry.FullName);
        using (await registry.LockAsync(Name, TimeSpan.FromSeconds(5), TimeProvider.System, CancellationToken.None))
        {
            registry.Write(new RegisteredCluster
            {
                Name = Name,
                Backend = "EC2",
                Token = "t0ken",
                StartedAt = DateTimeOffset.UtcNow,
                AttachedAt = DateTimeOffset.UtcNow,
                KeepAlive = KeepAlive,
                Properties = new Dictionary<string, string> { ["region"] = "eu-west-1", ["cluster"] = "coiled-remote-0badc0de" },
                Workers = [new RegisteredWorker(new Uri("https://192.0.2.1:8786")) { InstanceId = "i-0123456789abcdef0", CertificateThumbprint = new string('a', 64) }],
            });
        }

        var start = () => Cluster.StartAsync(Options(ec2, KeepAlive));

        (await start.Should().ThrowAsync<ClusterStartException>()).WithMessage(
            $"Named cluster '{Name}' runs in eu-west-1; this start asks for {LocalEc2Endpoint.Region}. Set Ec2Options.Region to \"eu-west-1\" to use it, " +
            $"stop it with `coiled-remote stop {Name}`, or give this cluster another name.");
        ec2.Calls.Should().NotContain(c => c.Action == "RunInstances" || c.Action == "CreateSecurityGroup");
        registry.Read(Name).Should().NotBeNull("the entry of a cluster this start could not reach stays for its own region");
    }

    [Fact]
    public async Task StartAsync_KeepAliveAboveTheOneHourEc2Default_IsRefusedBeforeAnyAwsCall()
    {
        var options = new ClusterOptions
        {
            Name = Name,
            KeepAlive = TimeSpan.FromMinutes(61),
            Backend = new Ec2Backend(new Ec2Options { Region = "us-east-1", ServiceUrl = new Uri("http://127.0.0.1:9") }, Tuning(), TimeProvider.System),
        };

        var start = () => Cluster.StartAsync(options);

        (await start.Should().ThrowAsync<ArgumentOutOfRangeException>()).WithMessage(
            "ClusterOptions.KeepAlive is 01:01:00, above ClusterOptions.MaxKeepAlive of 01:00:00 (the default for EC2). Keep it shorter, or raise MaxKeepAlive knowingly.*");
        Directory.EnumerateFileSystemEntries(_registry.FullName).Should().BeEmpty("nothing was started or registered");
    }

    private ClusterOptions Options(LocalEc2Endpoint ec2, TimeSpan keepAlive, ILoggerFactory? loggerFactory = null) => new()
    {
        Workers = 2,
        Name = Name,
        KeepAlive = keepAlive,
        Backend = new Ec2Backend(ec2.Options(), Tuning(), TimeProvider.System),
        LoggerFactory = loggerFactory,
    };

    private Ec2Tuning Tuning() => TestTuning.Fast() with { RegistryDirectory = _registry.FullName };
}
