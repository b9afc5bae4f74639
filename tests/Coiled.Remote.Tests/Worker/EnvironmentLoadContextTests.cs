using System.Reflection;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Worker;

namespace Coiled.Remote.Tests.Worker;

/// <summary>An environment's assemblies resolve by name in any case, as they do on the Windows or macOS machine that built them.</summary>
public sealed class EnvironmentLoadContextTests
{
    [Fact]
    public void ResolveAssemblyPath_FileNamedInAnotherCase_IsFoundAndLoads()
    {
        using var folder = new TempDirectory();
        var lowerCase = Path.Combine(folder.Path, "humanizer.dll");
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Humanizer.dll"), lowerCase);
        var context = new EnvironmentLoadContext("case-test", folder.Path, "App");

        var path = context.ResolveAssemblyPath(new AssemblyName("Humanizer"));

        path.Should().BeEquivalentTo(Path.Combine(folder.Path, "Humanizer.dll"), "the file system may or may not ignore case; the file is found either way");
        File.Exists(path).Should().BeTrue();
        context.LoadFromAssemblyName(new AssemblyName("Humanizer")).GetName().Name.Should().Be("Humanizer");
    }

    [Fact]
    public void ResolveAssemblyPath_SatelliteAssemblyTheDepsJsonLists_IsFoundInItsCultureFolder()
    {
        using var folder = new TempDirectory();
        File.WriteAllText(Path.Combine(folder.Path, "App.deps.json"), """
            {
              "runtimeTarget": { "name": ".NETCoreApp,Version=v10.0", "signature": "" },
              "targets": { ".NETCoreApp,Version=v10.0": {
                "App/1.0.0": { "dependencies": { "Acme": "1.0.0" }, "runtime": { "App.dll": {} } },
                "Acme/1.0.0": { "runtime": { "lib/net8.0/Acme.dll": {} }, "resources": { "lib/net8.0/fr/Acme.resources.dll": { "locale": "fr" } } }
              } },
              "libraries": {
                "App/1.0.0": { "type": "project", "serviceable": false, "sha512": "" },
                "Acme/1.0.0": { "type": "package", "serviceable": true, "sha512": "", "path": "acme/1.0.0" }
              }
            }
            """);
        foreach (var file in new[] { "App.dll", "Acme.dll", Path.Combine("fr", "Acme.resources.dll") })
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(folder.Path, file))!);
            File.WriteAllText(Path.Combine(folder.Path, file), "not loaded, only found");
        }

        var context = new EnvironmentLoadContext("satellite-test", folder.Path, "App");

        context.ResolveAssemblyPath(new AssemblyName("Acme.resources") { CultureName = "fr" }).Should().Be(Path.Combine(folder.Path, "fr", "Acme.resources.dll"));
    }

    [Fact]
    public void LoadFromAssemblyName_CachedAssemblyWrittenToThroughAnotherEnvironment_IsRefusedSayingWhatToDo()
    {
        // Two environments of a cache whose Humanizer.dll is the same blob: hard links to one file.
        using var cache = new TempDirectory();
        var blob = Path.Combine(cache.Path, "blob");
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Humanizer.dll"), blob);
        BlobStore.Seal(blob, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var (first, second) = (Directory.CreateDirectory(Path.Combine(cache.Path, "a")).FullName, Directory.CreateDirectory(Path.Combine(cache.Path, "b")).FullName);
        HardLink.TryCreate(blob, Path.Combine(first, "Humanizer.dll")).Should().BeTrue();
        HardLink.TryCreate(blob, Path.Combine(second, "Humanizer.dll")).Should().BeTrue();
        new EnvironmentLoadContext("before", second, "App", cached: true).LoadFromAssemblyName(new AssemblyName("Humanizer")).GetName().Name.Should().Be("Humanizer");

        // A task of the first environment, as root or after making the file writable, appends to its assembly.
        File.SetAttributes(Path.Combine(first, "Humanizer.dll"), FileAttributes.Normal);
        File.AppendAllText(Path.Combine(first, "Humanizer.dll"), "appended by a task");
        var act = () => new EnvironmentLoadContext("after", second, "App", cached: true).LoadFromAssemblyName(new AssemblyName("Humanizer"));

        act.Should().Throw<FileLoadException>().WithInnerException<AlteredFileException>().Which.Message.Should().Be(
            $"{Path.Combine(second, "Humanizer.dll")} was written to after the worker cached it (a task wrote to the same cached file through another environment " +
            "of this worker, as root or after making it writable), so it is not loaded. Start the cluster again: its synchronization uploads the file again, " +
            "and the worker lays the environment out anew.");
    }

    [LinuxFact]
    public void ResolveAssemblyPath_TwoFilesDifferingOnlyInCaseNeitherTheNameAskedFor_IsNull()
    {
        using var folder = new TempDirectory();
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Humanizer.dll"), Path.Combine(folder.Path, "humanizer.dll"));
        File.WriteAllText(Path.Combine(folder.Path, "HUMANIZER.dll"), "another file");
        var context = new EnvironmentLoadContext("ambiguous-test", folder.Path, "App");

        context.ResolveAssemblyPath(new AssemblyName("Humanizer")).Should().BeNull("either could be meant; the runtime itself would find neither on Linux");
        context.ResolveAssemblyPath(new AssemblyName("humanizer")).Should().Be(Path.Combine(folder.Path, "humanizer.dll"), "the exact name wins");
    }

    [Fact]
    public void ResolveAssemblyPath_SatelliteAssemblyWithoutADepsJson_IsFoundInItsCultureFolderAndNowhereElse()
    {
        using var folder = new TempDirectory();
        Directory.CreateDirectory(Path.Combine(folder.Path, "fr"));
        File.WriteAllText(Path.Combine(folder.Path, "fr", "App.resources.dll"), "not loaded, only found");
        File.WriteAllText(Path.Combine(folder.Path, "App.resources.dll"), "the neutral one, never a culture's");
        var context = new EnvironmentLoadContext("satellite-fallback-test", folder.Path, "App");

        context.ResolveAssemblyPath(new AssemblyName("App.resources") { CultureName = "fr" }).Should().Be(Path.Combine(folder.Path, "fr", "App.resources.dll"));
        context.ResolveAssemblyPath(new AssemblyName("App.resources") { CultureName = "de" }).Should().BeNull();
    }

    [Fact]
    public void ResolveNativePath_LibraryNamedAsTheAppsExecutableWithoutADepsJson_IsTheLibraryUnderRuntimesNotTheExecutable()
    {
        using var folder = new TempDirectory();
        var library = OperatingSystem.IsWindows() ? "Acme.dll" : OperatingSystem.IsMacOS() ? "libAcme.dylib" : "libAcme.so";
        var native = Path.Combine(folder.Path, "runtimes", Coiled.Remote.Synchronization.RuntimePlatform.Current.RuntimeIdentifier, "native");
        Directory.CreateDirectory(native);
        File.WriteAllText(Path.Combine(native, library), "the library");
        File.WriteAllText(Path.Combine(folder.Path, "Acme"), "the app's executable (its apphost)");
        var context = new EnvironmentLoadContext("native-order-test", folder.Path, "Acme");

        context.ResolveNativePath("Acme").Should().Be(Path.Combine(native, library));
    }

    [Fact]
    public void ResolveAssemblyPath_AssemblyTheEnvironmentLacks_IsNull()
    {
        using var folder = new TempDirectory();
        var context = new EnvironmentLoadContext("missing-test", folder.Path, "App");

        context.ResolveAssemblyPath(new AssemblyName("Humanizer")).Should().BeNull();
    }
}
