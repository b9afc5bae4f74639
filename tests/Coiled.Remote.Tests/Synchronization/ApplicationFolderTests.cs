using Coiled.Remote.Synchronization;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Transport.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coiled.Remote.Tests.Synchronization;

/// <summary>
/// What the caller sends a worker of a given platform, read from the application's deps.json and runtimeconfig.json:
/// only the runtime-specific files it can use, a warning for each native library it lacks, and no build it cannot run.
/// The applications here are written by hand, so that any platform can be a worker's.
/// </summary>
public sealed class ApplicationFolderTests : IDisposable
{
    private const string PortableTarget = ".NETCoreApp,Version=v10.0";
    private readonly TempDirectory _app = new("coiled-remote-app-");
    private readonly CapturingLoggerProvider _logs = new();

    public void Dispose() => _app.Dispose();

    [Fact]
    public void SnapshotFor_Arm64WorkerAndAPackageWithOnlyLinuxX64Natives_WarnsOnceNamingThePackageAndTheLibrary()
    {
        WriteDeps(PortableTarget, ("Acme.Imaging/2.1.0", "runtimes/linux-x64/native/libacme.so", "linux-x64"));
        var application = Scan();
        var arm64 = RuntimePlatform.Of(new HelloReply { RuntimeIdentifier = "linux-arm64" });

        application.SnapshotFor(arm64);
        application.SnapshotFor(arm64);

        var warning = _logs.Entries.Should().ContainSingle(e => e.Level == LogLevel.Warning).Which;
        warning.Values["Library"].Should().Be("acme");
        warning.Values["Packages"].Should().Be("Acme.Imaging 2.1.0");
        warning.Message.Should().Be(
            "Native library acme of Acme.Imaging 2.1.0 has no build for the workers' runtime linux-arm64 (only for linux-x64): " +
            "calls into it will fail there with DllNotFoundException. Reference a package that brings it for that runtime, or use workers that can run one of those");
    }

    [Fact]
    public void SnapshotFor_X64WorkerAndAPackageWithOnlyLinuxX64Natives_WarnsOfNothing()
    {
        WriteDeps(PortableTarget, ("Acme.Imaging/2.1.0", "runtimes/linux-x64/native/libacme.so", "linux-x64"));

        Scan().SnapshotFor(RuntimePlatform.Parse("linux-x64"));

        _logs.Entries.Should().NotContain(e => e.Level == LogLevel.Warning);
    }

    [Fact]
    public void MissingNativeLibraries_LibraryFromSeveralPackagesNoneForTheWorker_IsOneEntryNamingThemAll()
    {
        WriteDeps(
            PortableTarget,
            ("SkiaSharp.NativeAssets.Win32/3.119.0", "runtimes/win-x64/native/libSkiaSharp.dll", "win-x64"),
            ("SkiaSharp.NativeAssets.macOS/3.119.0", "runtimes/osx/native/libSkiaSharp.dylib", "osx"),
            ("SQLitePCLRaw.lib.e_sqlite3/2.1.12", "runtimes/linux-x64/native/libe_sqlite3.so", "linux-x64"),
            ("SQLitePCLRaw.lib.e_sqlite3/2.1.12", "runtimes/win-x64/native/e_sqlite3.dll", "win-x64"));

        var missing = RuntimeCompatibility.MissingNativeLibraries(AppDependencies.Read(_app.Path, "App"), RuntimePlatform.Parse("linux-x64"));

        missing.Should().ContainSingle();
        missing[0].Library.Should().Be("SkiaSharp");
        missing[0].Packages.Should().Equal("SkiaSharp.NativeAssets.Win32 3.119.0", "SkiaSharp.NativeAssets.macOS 3.119.0");
        missing[0].Available.Should().Equal("osx", "win-x64");
    }

    [Fact]
    public void SnapshotFor_LinuxWorker_LeavesOutOtherRuntimesFilesEvenWhenTheFolderIsGivenWithATrailingSeparator()
    {
        WriteDeps(PortableTarget);
        WriteFile("App.dll");
        WriteFile("runtimes/linux-x64/native/libacme.so");
        WriteFile("runtimes/linux-arm64/native/libacme.so");
        WriteFile("runtimes/linux-musl-x64/native/libacme.so");
        WriteFile("runtimes/unix/lib/net8.0/Acme.dll");
        WriteFile("runtimes/win-x64/native/acme.dll");
        WriteFile("runtimes/win/lib/net8.0/Acme.dll");
        WriteFile("runtimes/osx/native/libacme.dylib");

        var application = ApplicationFolder.Scan(_app.Path + Path.DirectorySeparatorChar, "App", _logs.CreateLogger("test"));
        var snapshot = application.SnapshotFor(RuntimePlatform.Parse("linux-x64"));

        snapshot.Manifest.Files.Select(f => f.Path).Should().Equal(
            "App.deps.json", "App.dll", "runtimes/linux-x64/native/libacme.so", "runtimes/unix/lib/net8.0/Acme.dll");
        snapshot.Manifest.EntryAssembly.Should().Be("App");
    }

    [Fact]
    public void SnapshotFor_WindowsWorker_TakesTheWindowsFilesInstead()
    {
        WriteDeps(PortableTarget);
        WriteFile("runtimes/linux-x64/native/libacme.so");
        WriteFile("runtimes/win-x64/native/acme.dll");
        WriteFile("runtimes/win/lib/net8.0/Acme.dll");

        var snapshot = Scan().SnapshotFor(RuntimePlatform.Parse("win-x64"));

        snapshot.Manifest.Files.Select(f => f.Path).Should().Equal("App.deps.json", "runtimes/win-x64/native/acme.dll", "runtimes/win/lib/net8.0/Acme.dll");
    }

    [Fact]
    public void SnapshotFor_SelfContainedBuild_IsRefusedNamingItsRuntimeAndHowToBuild()
    {
        WriteDeps(".NETCoreApp,Version=v10.0/linux-x64");
        File.WriteAllText(Path.Combine(_app.Path, "App.runtimeconfig.json"), """
            { "runtimeOptions": { "tfm": "net10.0", "includedFrameworks": [ { "name": "Microsoft.NETCore.App", "version": "10.0.12" } ] } }
            """);

        var act = () => Scan().SnapshotFor(RuntimePlatform.Parse("linux-x64"));

        act.Should().Throw<EnvironmentSyncException>().Which.Message.Should().Be(
            $"The application in {_app.Path} was built self-contained for linux-x64 (App.deps.json lists the .NET runtime itself): " +
            "its framework assemblies would shadow the workers' own, which run linux-x64. " +
            "To run it on these workers, build without -r, or with -r linux-x64 --self-contained false (and without PublishTrimmed, which needs self-contained), " +
            "and start the cluster again.");
    }

    [Fact]
    public void SnapshotFor_BuildForLinuxX64OnAnArm64Worker_IsRefused()
    {
        WriteDeps(".NETCoreApp,Version=v10.0/linux-x64");

        var act = () => Scan().SnapshotFor(RuntimePlatform.Parse("linux-arm64"));

        act.Should().Throw<EnvironmentSyncException>().Which.Message.Should().Be(
            $"The application in {_app.Path} was built for linux-x64 (App.deps.json names it), so its native libraries and runtime-specific assemblies " +
            "are for linux-x64, and the workers run linux-arm64. To run it on these workers, build without -r, or with -r linux-arm64, and start the cluster again.");
    }

    [Fact]
    public void SnapshotFor_BuildForLinuxX64OnAnX64Worker_IsTaken()
    {
        WriteDeps(".NETCoreApp,Version=v10.0/linux-x64");

        Scan().SnapshotFor(RuntimePlatform.Parse("linux-x64")).Manifest.Files.Select(f => f.Path).Should().Equal("App.deps.json");
    }

    [Theory]
    [InlineData("runtimes/win-x64/native/e_sqlite3.dll", true)]
    [InlineData("runtimes/osx/native/libSkiaSharp.dylib", true)]
    [InlineData("runtimes/linux-arm64/native/libSkiaSharp.so", true)]
    [InlineData("runtimes/linux-x64/native/libSkiaSharp.so", false)]
    [InlineData("runtimes/unix/lib/net8.0/System.IO.Ports.dll", false)]
    [InlineData("runtimes\\win\\lib\\net8.0\\System.IO.Ports.dll", true)]
    [InlineData("runtimes.txt", false)]
    [InlineData("data/runtimes/win-x64/notes.txt", false)]
    public void IsForOtherRuntime_OnLinuxX64_IsTrueOnlyUnderRuntimesFoldersItCannotUse(string path, bool expected)
    {
        RuntimeCompatibility.IsForOtherRuntime(path, RuntimePlatform.Parse("linux-x64")).Should().Be(expected);
    }

    [Fact]
    public void Read_FolderWithoutDepsJson_KnowsNothingAndRefusesNothing()
    {
        WriteFile("runtimes/win-x64/native/acme.dll");

        var application = ApplicationFolder.Scan(_app.Path, "App", NullLogger.Instance);

        application.Dependencies.DepsFile.Should().BeNull();
        application.SnapshotFor(RuntimePlatform.Parse("linux-x64")).Manifest.Files.Should().BeEmpty();
    }

    [Fact]
    public void MissingNativeLibraries_LibraryBuiltForWindowsOnlyOnALinuxWorker_IsNotMissing()
    {
        WriteDeps(
            PortableTarget,
            ("Microsoft.Data.SqlClient.SNI.runtime/6.0.2", "runtimes/win-arm64/native/Microsoft.Data.SqlClient.SNI.dll", "win-arm64"),
            ("Microsoft.Data.SqlClient.SNI.runtime/6.0.2", "runtimes/win-x64/native/Microsoft.Data.SqlClient.SNI.dll", "win-x64"),
            ("Microsoft.Data.SqlClient.SNI.runtime/6.0.2", "runtimes/win-x86/native/Microsoft.Data.SqlClient.SNI.dll", "win-x86"));

        RuntimeCompatibility.MissingNativeLibraries(AppDependencies.Read(_app.Path, "App"), RuntimePlatform.Parse("linux-x64")).Should().BeEmpty();
    }

    [Fact]
    public void MissingNativeLibraries_LibraryBuiltForLinuxOnlyOnAWindowsWorker_IsNotMissing()
    {
        WriteDeps(PortableTarget, ("Tmds.Acme/1.0.0", "runtimes/linux-x64/native/libacme.so", "linux-x64"), ("Tmds.Acme/1.0.0", "runtimes/linux-arm64/native/libacme.so", "linux-arm64"));

        RuntimeCompatibility.MissingNativeLibraries(AppDependencies.Read(_app.Path, "App"), RuntimePlatform.Parse("win-x64")).Should().BeEmpty();
    }

    [Fact]
    public void MissingNativeLibraries_StaticLibraryForBrowsersBesideTheWorkersBuild_IsNotMissing()
    {
        // As SQLitePCLRaw.lib.e_sqlite3 lists it in every portable Microsoft.Data.Sqlite app.
        WriteDeps(
            PortableTarget,
            ("SQLitePCLRaw.lib.e_sqlite3/2.1.12", "runtimes/browser-wasm/nativeassets/net9.0/e_sqlite3.a", "browser-wasm"),
            ("SQLitePCLRaw.lib.e_sqlite3/2.1.12", "runtimes/maccatalyst-arm64/native/libe_sqlite3.dylib", "maccatalyst-arm64"),
            ("SQLitePCLRaw.lib.e_sqlite3/2.1.12", "runtimes/linux-x64/native/libe_sqlite3.so", "linux-x64"),
            ("SQLitePCLRaw.lib.e_sqlite3/2.1.12", "runtimes/win-x64/native/e_sqlite3.dll", "win-x64"));

        RuntimeCompatibility.MissingNativeLibraries(AppDependencies.Read(_app.Path, "App"), RuntimePlatform.Parse("linux-x64")).Should().BeEmpty();
    }

    [Fact]
    public void MissingNativeLibraries_WorkersBuildListedButNotInTheFolder_IsMissingWithTheBuildsThatAre()
    {
        WriteDeps(
            PortableTarget,
            ("Acme.Imaging/2.1.0", "runtimes/linux-x64/native/libacme.so", "linux-x64"),
            ("Acme.Imaging/2.1.0", "runtimes/linux-arm64/native/libacme.so", "linux-arm64"));
        File.Delete(Path.Combine(_app.Path, "runtimes", "linux-x64", "native", "libacme.so"));

        var missing = RuntimeCompatibility.MissingNativeLibraries(AppDependencies.Read(_app.Path, "App"), RuntimePlatform.Parse("linux-x64"));

        missing.Should().ContainSingle().Which.Should().BeEquivalentTo(new MissingNativeLibrary("acme", ["Acme.Imaging 2.1.0"], ["linux-arm64"]));
    }

    [Theory]
    [InlineData("App")]
    [InlineData("App.exe")]
    public void SnapshotFor_SingleFilePublish_IsRefusedNamingTheExecutableAndHowToPublish(string executable)
    {
        // What dotnet publish -r linux-x64 -p:PublishSingleFile=true leaves: the bundle, its symbols, natives it does not hold.
        WriteFile(executable);
        WriteFile("App.pdb");
        WriteFile("libe_sqlite3.so");

        var act = () => Scan().SnapshotFor(RuntimePlatform.Parse("linux-x64"));

        act.Should().Throw<EnvironmentSyncException>().Which.Message.Should().Be(
            $"The application in {_app.Path} has no App.dll: it was published as a single file or ahead of time (PublishSingleFile, PublishAot), " +
            $"so its assemblies are inside {executable}, where the workers cannot load them. To run it on workers, publish it without " +
            "-p:PublishSingleFile=true and -p:PublishAot=true (or run it with dotnet run), and start the cluster again.");
    }

    [Fact]
    public void SnapshotFor_AppHostBesideItsDllWithoutADepsJson_IsTaken()
    {
        WriteFile("App");
        WriteFile("App.dll");

        Scan().SnapshotFor(RuntimePlatform.Parse("linux-x64")).Manifest.Files.Select(f => f.Path).Should().Equal("App", "App.dll");
    }

    [Fact]
    public void Scan_DepsJsonAndRuntimeConfigWithComments_AreReadAsTheHostReadsThem()
    {
        WriteDeps(".NETCoreApp,Version=v10.0/linux-x64");
        var deps = Path.Combine(_app.Path, "App.deps.json");
        File.WriteAllText(deps, "// written by hand\n" + File.ReadAllText(deps));
        File.WriteAllText(Path.Combine(_app.Path, "App.runtimeconfig.json"), """
            {
              /* the host allows comments */
              "runtimeOptions": { "tfm": "net10.0", "framework": { "name": "Microsoft.NETCore.App", "version": "10.0.0" } }
            }
            """);

        var application = Scan();

        application.Dependencies.TargetRuntime.Should().Be("linux-x64");
        application.Dependencies.SelfContained.Should().BeFalse();
    }

    [Fact]
    public void Scan_RuntimeConfigNotValid_IsRefusedNamingThatFile()
    {
        WriteDeps(PortableTarget);
        var runtimeConfig = Path.Combine(_app.Path, "App.runtimeconfig.json");
        File.WriteAllText(runtimeConfig, "{ \"runtimeOptions\": ");

        var act = () => Scan();

        act.Should().Throw<EnvironmentSyncException>().Which.Message.Should().StartWith($"The application's {runtimeConfig} is not valid JSON (")
            .And.EndWith("), so where it can run cannot be told. Rebuild the application, then start the cluster again.");
    }

    [Fact]
    public void Scan_DepsJsonHoldingNoObject_IsRefusedNamingIt()
    {
        File.WriteAllText(Path.Combine(_app.Path, "App.deps.json"), "[]");

        var act = () => Scan();

        act.Should().Throw<EnvironmentSyncException>().Which.Message.Should().Be(
            $"The application's {Path.Combine(_app.Path, "App.deps.json")} is not valid JSON (it holds no object), so where it can run cannot be told. " +
            "Rebuild the application, then start the cluster again.");
    }

    [Fact]
    public void SnapshotFor_ContentFoldersNamedAsSkippedOnesBelowTheRoot_AreSent()
    {
        WriteFile("App.dll");
        WriteFile(".vs/settings.json");
        WriteFile("ref/App.dll");
        WriteFile("data/ref/genome.fa");
        WriteFile("wwwroot/.well-known/security.txt");
        WriteFile("data/TestResults/expected.csv");

        Scan().SnapshotFor(RuntimePlatform.Parse("linux-x64")).Manifest.Files.Select(f => f.Path).Should().Equal(
            "App.dll", "data/TestResults/expected.csv", "data/ref/genome.fa", "wwwroot/.well-known/security.txt");
    }

    private ApplicationFolder Scan() => ApplicationFolder.Scan(_app.Path, "App", _logs.CreateLogger("test"));

    private void WriteFile(string relativePath)
    {
        var path = Path.Combine(_app.Path, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, relativePath);
    }

    /// <summary>Writes App.deps.json for <paramref name="target"/> with one library per native asset given, and the assets' files.</summary>
    private void WriteDeps(string target, params (string Library, string Path, string Rid)[] natives)
    {
        foreach (var native in natives)
        {
            WriteFile(native.Path);
        }

        var libraries = natives.GroupBy(n => n.Library).ToDictionary(
            g => g.Key,
            g => (object)new { runtimeTargets = g.ToDictionary(n => n.Path, n => new { rid = n.Rid, assetType = "native", fileVersion = "0.0.0.0" }) });
        libraries["App/1.0.0"] = new { runtime = new Dictionary<string, object> { ["App.dll"] = new { } } };
        var deps = new
        {
            runtimeTarget = new { name = target, signature = string.Empty },
            targets = new Dictionary<string, object> { [target] = libraries },
            libraries = libraries.Keys.ToDictionary(k => k, k => new { type = k == "App/1.0.0" ? "project" : "package", serviceable = false, sha512 = string.Empty }),
        };
        File.WriteAllText(Path.Combine(_app.Path, "App.deps.json"), System.Text.Json.JsonSerializer.Serialize(deps));
    }
}
