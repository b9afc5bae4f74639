using System.Diagnostics;
using Coiled.Remote.Ec2.Simulation;

namespace Coiled.Remote.Ec2.Tests;

/// <summary>The <c>coiled-remote</c> command as a child process, with AWS credentials from its environment.</summary>
public sealed class CliTests
{
    [LocalS3Fact]
    public async Task Ec2LsAndCleanup_LocalEc2SelfContainedWorker_ListAndRemoveClusterOfKilledCaller()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        using var caller = Process.Start(new ProcessStartInfo("sleep", "60") { UseShellExecute = false })!;
        var abandoned = new Ec2Backend(ec2.Options(), TestTuning.Fast(OwnerIdentity.Current with { ProcessId = caller.Id }), TimeProvider.System);
        await abandoned.StartWorkersAsync(Ec2BackendTests.Launch(1), CancellationToken.None);
        caller.Kill();
        await caller.WaitForExitAsync();

        string[] endpoints = ["--region", LocalEc2Endpoint.Region, "--endpoint-url", ec2.Url.ToString(), "--s3-endpoint-url", ec2.S3.Url.ToString()];
        var staged = await ec2.S3.ObjectsAsync(LocalEc2Endpoint.StagingBucketName);

        var (listCode, listed) = await RunAsync(ec2, ["ec2", "ls", .. endpoints]);
        var (cleanupCode, cleaned) = await RunAsync(ec2, ["ec2", "cleanup", .. endpoints]);
        var (allCode, all) = await RunAsync(ec2, ["ec2", "cleanup", "--all", .. endpoints]);
        var (emptyCode, empty) = await RunAsync(ec2, ["ec2", "ls", .. endpoints]);

        listCode.Should().Be(0, listed);
        listed.Should().Contain(abandoned.ClusterName).And.Contain("c7i.large").And.Contain("stale: its owner, process");
        var megabytes = (staged.Values.Sum() / 1e6).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture);
        listed.Should().Contain($"Staging bucket {LocalEc2Endpoint.StagingBucketName}: {staged.Count} object(s), {megabytes} MB; each object expires a day after it was written");
        cleanupCode.Should().Be(0, cleaned);
        cleaned.Should().Contain("Removed 1 cluster(s): 1 instance(s) terminated, 1 security group(s) deleted.").And.NotContain("staging bucket");
        ec2.LiveInstances.Should().BeEmpty();
        ec2.Groups.Should().BeEmpty();
        allCode.Should().Be(0, all);
        all.Should().Contain($"Removed the staging bucket {LocalEc2Endpoint.StagingBucketName} ({staged.Count} object(s), {megabytes} MB).");
        emptyCode.Should().Be(0, empty);
        empty.Should().Contain("No Coiled.Remote clusters.").And.Contain("No staging bucket.");
    }

    [LocalS3Fact]
    public async Task LsAndStop_KeptNamedEc2Cluster_ListsItsRunningInstancesThenTerminatesThemAndForgetsTheName()
    {
        await using var ec2 = await LocalEc2Endpoint.StartAsync();
        var cache = Directory.CreateTempSubdirectory("coiled-remote-cli-cache-");
        try
        {
            var tuning = TestTuning.Fast() with { RegistryDirectory = Path.Combine(cache.FullName, "clusters") };
            await using (var cluster = await Cluster.StartAsync(new ClusterOptions
            {
                Workers = 2,
                Name = "ec2-cli",
                KeepAlive = TimeSpan.FromMinutes(10),
                Backend = new Ec2Backend(ec2.Options(), tuning, TimeProvider.System),
            }))
            {
                (await cluster.MapAsync(Ec2Jobs.Square, [3.0])).Should().Equal(9.0);
            }

            ec2.LiveInstances.Should().HaveCount(2);
            string[] where = ["--cache-dir", cache.FullName];
            string[] endpoint = ["--endpoint-url", ec2.Url.ToString()];

            var (unaskedCode, unasked) = await RunAsync(ec2, ["ls", .. where]);
            var (askedCode, asked) = await RunAsync(ec2, ["ls", .. where, "--region", LocalEc2Endpoint.Region, .. endpoint]);
            var (stopCode, stopped) = await RunAsync(ec2, ["stop", "ec2-cli", .. where, .. endpoint]);
            var (afterCode, after) = await RunAsync(ec2, ["ls", .. where]);

            unaskedCode.Should().Be(0, unasked);
            unasked.Should().MatchRegex($@"ec2-cli\s+EC2 {LocalEc2Endpoint.Region}\s+\? of 2\s");
            askedCode.Should().Be(0, asked);
            asked.Should().MatchRegex($@"ec2-cli\s+EC2 {LocalEc2Endpoint.Region}\s+2\s+\S+\s+\S+\s+\S+\s+\$0\.");
            stopCode.Should().Be(0, stopped);
            stopped.Should().Contain("Stopped named cluster ec2-cli: 2 worker(s) stopped and gone.");
            ec2.LiveInstances.Should().BeEmpty();
            ec2.Groups.Should().BeEmpty();
            afterCode.Should().Be(0, after);
            after.Should().Contain("No named clusters.");
        }
        finally
        {
            cache.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Ec2Ls_WithoutCredentials_SaysWhatToConfigure()
    {
        var (code, output) = await RunAsync(null, "ec2", "ls", "--region", "us-east-1");

        code.Should().Be(1);
        output.Should().Contain("AWS_ACCESS_KEY_ID").And.Contain("AWS_PROFILE");
    }

    private static async Task<(int Code, string Output)> RunAsync(LocalEc2Endpoint? ec2, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "coiled-remote.dll"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var name in new[] { "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION" })
        {
            start.Environment.Remove(name);
        }

        start.Environment["AWS_EC2_METADATA_DISABLED"] = "true";
        start.Environment["AWS_CONFIG_FILE"] = "/nonexistent/coiled-remote-test-config";
        start.Environment["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/coiled-remote-test-credentials";
        if (ec2 is not null)
        {
            start.Environment["AWS_ACCESS_KEY_ID"] = "AKIDLOCALEC2TEST";
            start.Environment["AWS_SECRET_ACCESS_KEY"] = "local-ec2-secret-key";
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}
