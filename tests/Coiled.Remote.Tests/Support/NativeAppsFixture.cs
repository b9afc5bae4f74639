using Coiled.Remote.Tests.Packaging;

namespace Coiled.Remote.Tests.Support;

/// <summary>
/// Small console apps with native NuGet libraries, built once for the tests that share this fixture, at the same
/// time, outside the repository (none of its build settings apply), and deleted afterwards:
/// <list type="bullet">
/// <item><see cref="SqliteForWindows"/>: Microsoft.Data.Sqlite built with <c>-r win-x64</c>, its natives flattened into the root.</item>
/// <item><see cref="Skia"/>: SkiaSharp built without <c>-r</c>, with natives for Windows, macOS and Linux under <c>runtimes/</c>.</item>
/// <item><see cref="Sqlite"/>: Microsoft.Data.Sqlite built without <c>-r</c>, with e_sqlite3 for every runtime SQLitePCLRaw has, browsers and phones too.</item>
/// </list>
/// </summary>
public sealed class NativeAppsFixture : IAsyncLifetime
{
    private readonly TempDirectory _root = new("coiled-remote-native-apps-");

    /// <summary>The output folder of the Sqlite app built for win-x64.</summary>
    public string SqliteForWindows => Path.Combine(_root.Path, "out", "sqlite-win-x64");

    /// <summary>The output folder of the Sqlite app built without a runtime identifier.</summary>
    public string Sqlite => Path.Combine(_root.Path, "out", "sqlite");

    /// <summary>The output folder of the SkiaSharp app built without a runtime identifier.</summary>
    public string Skia => Path.Combine(_root.Path, "out", "skia");

    public async Task InitializeAsync()
    {
        File.WriteAllText(Path.Combine(_root.Path, "Directory.Build.props"), "<Project />\n");
        File.WriteAllText(Path.Combine(_root.Path, "Directory.Build.targets"), "<Project />\n");
        File.WriteAllText(Path.Combine(_root.Path, "Directory.Packages.props"), "<Project />\n");
        var sqlite = Write("Sq", """<PackageReference Include="Microsoft.Data.Sqlite" Version="10.0.12" />""",
            """System.Console.WriteLine(new Microsoft.Data.Sqlite.SqliteConnection("Data Source=:memory:").DataSource);""");
        var portableSqlite = Write("Sp", """<PackageReference Include="Microsoft.Data.Sqlite" Version="10.0.12" />""",
            """System.Console.WriteLine(new Microsoft.Data.Sqlite.SqliteConnection("Data Source=:memory:").DataSource);""");
        var skia = Write("Sk", """<PackageReference Include="SkiaSharp" Version="3.119.0" /><PackageReference Include="SkiaSharp.NativeAssets.Linux.NoDependencies" Version="3.119.0" />""",
            """System.Console.WriteLine(new SkiaSharp.SKBitmap(3, 2).Width);""");

        // The dotnet commands make temp folders of their own; they go here and leave with the root.
        var temp = Directory.CreateDirectory(Path.Combine(_root.Path, "tmp")).FullName;
        var builds = await Task.WhenAll(
            PackagingTools.DotnetWithTempAsync(temp, sqlite, "build", "-c", "Release", "-r", "win-x64", "--self-contained", "false", "-o", SqliteForWindows, "--disable-build-servers"),
            PackagingTools.DotnetWithTempAsync(temp, portableSqlite, "build", "-c", "Release", "-o", Sqlite, "--disable-build-servers"),
            PackagingTools.DotnetWithTempAsync(temp, skia, "build", "-c", "Release", "-o", Skia, "--disable-build-servers"));
        foreach (var build in builds)
        {
            build.ExitCode.Should().Be(0, "the test app must build:\n{0}", build.Output);
        }
    }

    public Task DisposeAsync()
    {
        _root.Dispose();
        return Task.CompletedTask;
    }

    private string Write(string name, string references, string program)
    {
        var folder = Directory.CreateDirectory(Path.Combine(_root.Path, name)).FullName;
        File.WriteAllText(Path.Combine(folder, $"{name}.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally>
                <NuGetAudit>false</NuGetAudit>
              </PropertyGroup>
              <ItemGroup>{references}</ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(folder, "Program.cs"), program);
        return folder;
    }
}
