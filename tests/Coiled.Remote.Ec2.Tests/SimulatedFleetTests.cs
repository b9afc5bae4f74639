using System.Security.Cryptography;
using Coiled.Remote.Ec2.Simulation;
using Xunit.Abstractions;

namespace Coiled.Remote.Ec2.Tests;

/// <summary>
/// A fleet of sixteen on the local EC2 and S3 endpoints: every instance runs the real boot script in a sandbox
/// without .NET, in a network namespace that reaches only the local S3 endpoint and the caller (where namespaces can be
/// made; the shared network otherwise, which the test reports).
/// </summary>
[Collection(FleetCollection.Name)]
public sealed class SimulatedFleetTests(ITestOutputHelper output)
{
    private const int Workers = 16;

    [LocalS3Fact]
    public async Task StartAsync_SixteenSandboxedInstances_RunMapsWithTheCallerUploadingEachFileAndSharedValueOnceAndLeaveNothingBehind()
    {
        var isolated = SandboxNetwork.Unavailable is null;
        output.WriteLine(isolated ? "instances in network namespaces" : $"instances on this machine's network: {SandboxNetwork.Unavailable}");
        await using var ec2 = await LocalEc2Endpoint.StartAsync(isolateNetwork: isolated);
        using var app = FleetApp.Create(extraBytes: 20_000_000);
        var tuning = TestTuning.Fast() with { BootTimeout = TimeSpan.FromMinutes(5) };
        var backend = new Ec2Backend(ec2.Options(), tuning, TimeProvider.System);
        long uploaded;
        long syncBytes;
        var model = RandomNumberGenerator.GetBytes(10_000_000);
        var modelKey = S3Staging.ContentKey(Convert.ToHexStringLower(SHA256.HashData([0xc6, 0x00, 0x98, 0x96, 0x80, .. model])));
        long modelUpload;
        ClusterSummary summary;

        await using (var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = Workers, Backend = backend, ApplicationDirectory = app.Path }))
        {
            var squares = await cluster.MapAsync(Ec2Jobs.Square, Enumerable.Range(0, 160).Select(i => (double)i));

            squares.Should().Equal(Enumerable.Range(0, 160).Select(i => (double)(i * i)));
            cluster.Workers.Should().HaveCount(Workers);
            (uploaded, syncBytes) = (backend.BytesStaged, cluster.Summary.SyncBytes);

            // A 10 MB model shared with every worker goes to the bucket once; each worker fetches it from there.
            await using var shared = await cluster.ShareAsync(model);
            var scores = await cluster.MapAsync(Ec2Jobs.ScoreShared, Enumerable.Range(0, 320).Select(i => (shared, i)));
            scores.Should().Equal(Enumerable.Range(0, 320).Select(i => (model.Length * 256L) + model[i]));
            (modelUpload, summary) = (backend.BytesStaged - uploaded, cluster.Summary);
            foreach (var instance in ec2.LiveInstances)
            {
                File.Exists(Path.Combine(instance.Sandbox!, "dotnet.log")).Should().BeFalse("{0} must run the self-contained worker", instance.Id);
                instance.Namespace.Should().Match(n => isolated ? n != null : n == null);
            }
        }

        // The worker (staged once for the account and region) and each distinct file of the app crossed the caller's
        // uplink once for sixteen workers; nothing went to the workers directly.
        var worker = WorkerBundle.Find(InstanceArchitecture.X64);
        var appUpload = uploaded - worker.Size;
        output.WriteLine($"app {app.Bytes:N0} bytes, caller uploaded {uploaded:N0} bytes ({appUpload:N0} besides the worker)");
        syncBytes.Should().Be(0);
        appUpload.Should().BeLessThanOrEqualTo((long)(1.1 * app.Bytes));
        var staged = await ec2.S3.ObjectsAsync(LocalEc2Endpoint.StagingBucketName);
        var stagedApp = staged.Where(o => o.Key != S3Staging.ContentKey(worker.Sha256) && o.Key != modelKey).Sum(o => o.Value);
        stagedApp.Should().BeGreaterThan(20_000_000, "the app's files, its 20 MB data file among them, are staged");
        (appUpload - stagedApp).Should().BeInRange(1, 10_000, "each staged file was uploaded once; the rest is the boot secrets");

        // The model crossed the caller's uplink once however many workers read it; their task streams carried only references.
        var sentTo = summary.SharedValueBytesStaged / (model.Length + 5);
        output.WriteLine($"model of {model.Length:N0} bytes: caller uploaded {modelUpload:N0} bytes, {sentTo} workers fetched it, {summary.ArgumentBytes:N0} argument bytes over the workers' connections");
        modelUpload.Should().Be(model.Length + 5);
        staged[modelKey].Should().Be(model.Length + 5);
        summary.SharedValueBytesStaged.Should().Be(sentTo * (model.Length + 5));
        sentTo.Should().BeGreaterThan(1);
        summary.ArgumentBytes.Should().BeLessThan(1_000_000);

        // Nothing remains: instances, security group, boot secrets; and a day later the bucket's expiry empties it.
        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
        staged.Keys.Should().OnlyContain(k => k.StartsWith("sha256/", StringComparison.Ordinal));
        await ec2.S3.ExpireAsync(DateTimeOffset.UtcNow.AddDays(1).AddMinutes(1));
        (await ec2.S3.ObjectsAsync(LocalEc2Endpoint.StagingBucketName)).Should().BeEmpty();
    }

    /// <summary>A copy of the tests' own application with a data file of random bytes added, deleted on dispose.</summary>
    private sealed class FleetApp : IDisposable
    {
        private FleetApp(string path, long bytes) => (Path, Bytes) = (path, bytes);

        public string Path { get; }

        /// <summary>The distinct bytes of the app: each content once.</summary>
        public long Bytes { get; }

        public static FleetApp Create(int extraBytes)
        {
            var path = Directory.CreateTempSubdirectory("coiled-remote-fleet-app-").FullName;
            foreach (var file in Directory.EnumerateFiles(AppContext.BaseDirectory, "*", SearchOption.AllDirectories))
            {
                var target = System.IO.Path.Combine(path, System.IO.Path.GetRelativePath(AppContext.BaseDirectory, file));
                Directory.CreateDirectory(System.IO.Path.GetDirectoryName(target)!);
                File.Copy(file, target);
            }

            File.WriteAllBytes(System.IO.Path.Combine(path, "model.bin"), RandomNumberGenerator.GetBytes(extraBytes));
            var distinct = Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
                .GroupBy(f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))))
                .Sum(g => new FileInfo(g.First()).Length);
            return new FleetApp(path, distinct);
        }

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}

/// <summary>The fleet's sixteen instances saturate a small machine: nothing else runs beside it.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FleetCollection
{
    public const string Name = "Simulated fleet";
}
