using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Coiled.Remote.Synchronization;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Worker;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>
/// The README's start and synchronization failures, each provoked for real: what the caller catches, and that its
/// message says what happened and where.
/// </summary>
public sealed class StartFailureTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task StartAsync_WorkerProcessExitsAtOnce_ThrowsClusterStartExceptionQuotingItsErrorOutput()
    {
        // A program that is not the worker daemon: the test caller, which exits with 2 on an unknown mode ("--listen").
        using var cache = new TempDirectory();
        var backend = new LocalProcessBackend { WorkerPath = Path.Combine(AppContext.BaseDirectory, "coiled-remote-test-caller.dll"), CacheDirectory = cache.Path };

        var start = () => Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = backend }).WaitAsync(Safety);

        var thrown = (await start.Should().ThrowAsync<ClusterStartException>()).Which;
        thrown.Message.Should().MatchRegex(
            "^Worker process \\d+ failed to start: it exited \\(exit code 2 \\(the worker process exited by itself: [^\\n]*\\)\\)\\. " +
            "Its error output:\\r?\\nunknown mode --listen\\r?\\n$");
        backend.ProcessIds.Should().BeEmpty("a failed start stops whatever it started");
    }

    [Fact]
    public async Task ConnectAsync_NobodyListensAtTheAddress_ThrowsClusterStartExceptionCouldNotReach()
    {
        var address = new Uri($"http://127.0.0.1:{UnusedPort()}/");

        var connect = () => Cluster.ConnectAsync([address], "nobody-listens-token-0123456789").WaitAsync(Safety);

        var thrown = (await connect.Should().ThrowAsync<ClusterStartException>()).Which;
        thrown.Message.Should().StartWith($"Could not reach 1 of 1 worker(s) ({address}): ");
        thrown.InnerException.Should().BeOfType<RpcException>().Which.StatusCode.Should().Be(StatusCode.Unavailable);
    }

    [Fact]
    public async Task StartAsync_WorkerCannotStoreAFileInItsCache_ThrowsEnvironmentSyncExceptionNamingWorkerAndCache()
    {
        // Where the worker would keep the application's last file there is a folder, so storing that file fails.
        using var cache = new TempDirectory();
        var (hash, _) = LastFileOfTheApplication();
        var blobs = Path.Combine(cache.Path, "blobs");
        Directory.CreateDirectory(Path.Combine(blobs, hash));

        var start = () => Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new LocalProcessBackend { CacheDirectory = cache.Path } }).WaitAsync(Safety);

        var thrown = (await start.Should().ThrowAsync<EnvironmentSyncException>()).Which;
        thrown.Message.Should().MatchRegex("^Synchronizing the application \\(\\d+ files, [\\d,]+ bytes\\) to worker w-[0-9a-f]{6} at http://127\\.0\\.0\\.1:\\d+/ failed: ");
        thrown.Message.Should().Contain($"The worker could not store blob {hash} in its cache {blobs}: ")
            .And.Contain("Free space there or make it writable");
    }

    [Fact]
    public async Task SubmitAsync_WorkersCopyOfTheApplicationIsAnotherBuild_ThrowsEnvironmentSyncExceptionCannotRun()
    {
        // The worker's cache holds, under the test assembly's hash, bytes that pass its checks (size, the time a stored
        // blob carries) but are not that assembly: synchronization finds nothing missing, and the assembly cannot load.
        using var cache = new TempDirectory();
        var assembly = Path.Combine(AppContext.BaseDirectory, "Coiled.Remote.Tests.dll");
        var planted = PlantOtherBytes(cache.Path, assembly);
        BlobStore.Seal(planted, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new LocalProcessBackend { CacheDirectory = cache.Path } });

        var submit = () => cluster.SubmitAsync(TestJobs.Square, 3.0).WaitAsync(Safety);

        var thrown = (await submit.Should().ThrowAsync<EnvironmentSyncException>()).Which;
        thrown.Message.Should().MatchRegex(
            $"^Worker {cluster.Workers[0].Id} cannot run TestJobs\\.Square \\(item 0\\): Assembly Coiled\\.Remote\\.Tests could not be loaded in environment [0-9a-f]{{12}}: ");
    }

    [Fact]
    public async Task SubmitAsync_CachedCopyWrittenToAfterItWasStored_IsUploadedAgainAndRuns()
    {
        // The same other bytes, but written as a task writing through a link into the cache would: the worker sees the
        // blob was written to, deletes it and has it uploaded again.
        using var cache = new TempDirectory();
        var assembly = Path.Combine(AppContext.BaseDirectory, "Coiled.Remote.Tests.dll");
        var planted = PlantOtherBytes(cache.Path, assembly);
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new LocalProcessBackend { CacheDirectory = cache.Path } });

        var result = await cluster.SubmitAsync(TestJobs.Square, 3.0).WaitAsync(Safety);

        result.Should().Be(9.0);
        File.ReadAllBytes(planted).Should().Equal(File.ReadAllBytes(assembly));
    }

    /// <summary>Puts another program's bytes, cut or padded to the size of <paramref name="assembly"/>, in the cache under its hash.</summary>
    private static string PlantOtherBytes(string cacheDirectory, string assembly)
    {
        var blobs = Directory.CreateDirectory(Path.Combine(cacheDirectory, "blobs")).FullName;
        var other = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "coiled-remote-test-caller.dll"));
        var bytes = new byte[new FileInfo(assembly).Length];
        other.AsSpan(0, Math.Min(other.Length, bytes.Length)).CopyTo(bytes);
        var planted = Path.Combine(blobs, Sha256(assembly));
        File.WriteAllBytes(planted, bytes);
        return planted;
    }

    /// <summary>The application's last file by manifest order, which synchronization uploads last.</summary>
    private static (string Hash, string Path) LastFileOfTheApplication()
    {
        var snapshot = ApplicationFolder.Scan(AppContext.BaseDirectory, "testhost", NullLogger.Instance).SnapshotFor(RuntimePlatform.Current);
        var last = snapshot.Manifest.Files[^1];
        return (Convert.ToHexStringLower(last.Sha256.Span), last.Path);
    }

    private static string Sha256(string path)
    {
        using var file = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(file));
    }

    /// <summary>A loopback port that was free a moment ago and that nothing listens on.</summary>
    private static int UnusedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
