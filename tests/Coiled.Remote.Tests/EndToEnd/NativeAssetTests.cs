using System.Reflection;
using System.Runtime.Loader;
using Coiled.Remote.Synchronization;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Worker;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>
/// Real builds of apps with native NuGet libraries (<see cref="NativeAppsFixture"/>): a build for another runtime is
/// refused before anything is uploaded, a portable build sends the workers only the natives they can load, and those
/// load in an environment's context as the runtime would load them.
/// </summary>
public sealed class NativeAssetTests(NativeAppsFixture apps) : IClassFixture<NativeAppsFixture>
{
    private static readonly TimeSpan Safety = TimeSpan.FromSeconds(90);

    [LinuxFact]
    public async Task StartAsync_SqliteAppBuiltForWinX64_IsRefusedWithHowToBuildItAndUploadsNothing()
    {
        using var cache = new TempDirectory();
        var rid = RuntimePlatform.Current.RuntimeIdentifier;

        var act = () => Cluster.StartAsync(new ClusterOptions
        {
            Workers = 1,
            ApplicationDirectory = apps.SqliteForWindows,
            Backend = new LocalProcessBackend { CacheDirectory = cache.Path },
        }).WaitAsync(Safety);

        (await act.Should().ThrowAsync<EnvironmentSyncException>()).Which.Message.Should().Be(
            $"The application in {apps.SqliteForWindows} was built for win-x64 (Sq.deps.json names it), so its native libraries and runtime-specific " +
            $"assemblies are for win-x64, and the workers run {rid}. To run it on these workers, build without -r, or with -r {rid}, and start the cluster again.");
        Directory.EnumerateFiles(Path.Combine(cache.Path, "blobs")).Should().BeEmpty("the build is refused before any of it is uploaded");
    }

    [LinuxFact]
    public async Task StartAsync_PortableSkiaApp_UploadsTheNativeLibraryOfTheWorkersRuntimeAndNoOther()
    {
        using var cache = new TempDirectory();
        var rid = RuntimePlatform.Current.RuntimeIdentifier;
        await using var cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 1,
            ApplicationDirectory = apps.Skia,
            Backend = new LocalProcessBackend { CacheDirectory = cache.Path },
        }).WaitAsync(Safety);

        var environment = Directory.GetDirectories(Path.Combine(cache.Path, "envs")).Should().ContainSingle().Which;
        var files = Directory.EnumerateFiles(environment, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(environment, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Order(StringComparer.Ordinal)
            .ToList();

        files.Should().Equal("Sk", "Sk.deps.json", "Sk.dll", "Sk.pdb", "Sk.runtimeconfig.json", "SkiaSharp.dll", $"runtimes/{rid}/native/libSkiaSharp.so");
        cluster.LastSync.ManifestFiles.Should().Be(files.Count);
        Directory.EnumerateFiles(Path.Combine(apps.Skia, "runtimes"), "*", SearchOption.AllDirectories).Should().HaveCountGreaterThan(10, "the build has natives for many runtimes");
    }

    [Theory]
    [InlineData("linux-x64")]
    [InlineData("linux-arm64")]
    [InlineData("linux-musl-x64")]
    [InlineData("win-x64")]
    [InlineData("osx-arm64")]
    public void SnapshotFor_PortableSqliteApp_WarnsOfNothingAndSendsOneBuildOfTheLibraryPerRuntimeItFallsBackTo(string runtimeIdentifier)
    {
        using var logs = new CapturingLoggerProvider();
        var platform = RuntimePlatform.Parse(runtimeIdentifier);

        var snapshot = ApplicationFolder.Scan(apps.Sqlite, "Sp", logs.CreateLogger("test")).SnapshotFor(platform);

        logs.Entries.Should().BeEmpty("SQLitePCLRaw brings e_sqlite3 for every runtime a worker runs on; its browser build is a static library");
        snapshot.Manifest.Files.Select(f => f.Path).Where(p => p.StartsWith("runtimes/", StringComparison.Ordinal)).Should().Equal(
            platform.Compatible.Where(rid => Directory.Exists(Path.Combine(apps.Sqlite, "runtimes", rid))).Order(StringComparer.Ordinal)
                .Select(rid => $"runtimes/{rid}/native/" + (rid.StartsWith("win", StringComparison.Ordinal) ? "e_sqlite3.dll" : rid.StartsWith("osx", StringComparison.Ordinal) ? "libe_sqlite3.dylib" : "libe_sqlite3.so")));
    }

    [Fact]
    public void EnvironmentLoadContext_PortableSqliteApp_OpensADatabaseThroughTheNativeLibraryOfThisPlatform()
    {
        var context = new EnvironmentLoadContext("sqlite-test", apps.Sqlite, "Sp");
        var sqlite = context.LoadFromAssemblyName(new AssemblyName("Microsoft.Data.Sqlite"));
        using var connection = (System.Data.Common.DbConnection)Activator.CreateInstance(sqlite.GetType("Microsoft.Data.Sqlite.SqliteConnection", throwOnError: true)!, "Data Source=:memory:")!;

        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "select 6 * 7";

        command.ExecuteScalar().Should().Be(42L);
        connection.ServerVersion.Should().StartWith("3.");
    }

    [Fact]
    public void EnvironmentLoadContext_PortableSkiaApp_LoadsTheNativeLibraryOfThisPlatformThroughTheDepsJson()
    {
        var context = new EnvironmentLoadContext("skia-test", apps.Skia, "Sk");
        var architecture = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
        var expected = OperatingSystem.IsWindows() ? Path.Combine("runtimes", $"win-{architecture}", "native", "libSkiaSharp.dll")
            : OperatingSystem.IsMacOS() ? Path.Combine("runtimes", "osx", "native", "libSkiaSharp.dylib")
            : Path.Combine("runtimes", $"linux-{architecture}", "native", "libSkiaSharp.so");

        context.ResolveNativePath("libSkiaSharp").Should().Be(Path.Combine(apps.Skia, expected));

        var skia = context.LoadFromAssemblyName(new AssemblyName("SkiaSharp"));
        AssemblyLoadContext.GetLoadContext(skia).Should().BeSameAs(context);
        using var bitmap = (IDisposable)Activator.CreateInstance(skia.GetType("SkiaSharp.SKBitmap", throwOnError: true)!, 3, 2, false)!;
        bitmap.GetType().GetProperty("Width")!.GetValue(bitmap).Should().Be(3, "the bitmap was made by the native library");
    }
}
