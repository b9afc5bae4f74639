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
    public void ResolveAssemblyPath_AssemblyTheEnvironmentLacks_IsNull()
    {
        using var folder = new TempDirectory();
        var context = new EnvironmentLoadContext("missing-test", folder.Path, "App");

        context.ResolveAssemblyPath(new AssemblyName("Humanizer")).Should().BeNull();
    }
}
