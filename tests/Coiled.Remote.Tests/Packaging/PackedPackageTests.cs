using System.Diagnostics;
using System.Text;
using System.Xml.Linq;

namespace Coiled.Remote.Tests.Packaging;

/// <summary>
/// Packs the Coiled.Remote NuGet package from this repository and uses it the way a user does: a fresh console app,
/// outside the repository, whose only reference is <c>&lt;PackageReference Include="Coiled.Remote" /&gt;</c>.
/// </summary>
public sealed class PackedPackageTests
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(5);

    private const string RunningAppProgram = """
        using Coiled.Remote;

        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2 });
        Console.WriteLine($"workers: {cluster.Workers.Count} {string.Join(",", cluster.Workers.Select(w => w.State))}");

        int[] squares = await cluster.MapAsync(Jobs.Square, Enumerable.Range(1, 5));
        Console.WriteLine($"map: {string.Join(",", squares)}");

        string greeting = await cluster.SubmitAsync(Jobs.Greet, "hi", 3);
        Console.WriteLine($"submit: {greeting}");

        var cubes = new List<long>();
        await foreach (var cube in cluster.MapStreamAsync(Jobs.CubeAsync, Enumerable.Range(1, 4)))
        {
            cubes.Add(cube);
        }

        Console.WriteLine($"stream: {string.Join(",", cubes)}");

        int[] processIds = await cluster.MapAsync(Jobs.ProcessId, Enumerable.Range(0, 4));
        Console.WriteLine($"ran in other processes: {processIds.All(id => id != Environment.ProcessId)}");

        public static class Jobs
        {
            [Remote]
            public static int Square(int x) => x * x;

            [Remote]
            public static string Greet(string word, int times) => string.Join("-", Enumerable.Repeat(word, times));

            [Remote]
            public static async Task<long> CubeAsync(int x, CancellationToken cancellationToken)
            {
                await Task.Yield();
                return (long)x * x * x;
            }

            [Remote]
            public static int ProcessId(int item) => Environment.ProcessId;
        }
        """;

    private const string NonStaticRemoteProgram = """
        using Coiled.Remote;

        Console.WriteLine(new Jobs().Square(2));

        public class Jobs
        {
            [Remote]
            public int Square(int x) => x * x;
        }
        """;

    [Fact]
    public async Task Pack_ConsoleAppWithOnlyThePackage_RunsMapOnLocalWorkers()
    {
        var root = Directory.CreateTempSubdirectory("coiled-remote-pack-").FullName;
        // A version no earlier run used: the global packages folder can never hand back a stale Coiled.Remote.
        var version = $"0.0.0-packtest.{Guid.NewGuid():N}";
        try
        {
            var packages = Path.Combine(root, "packages");
            var pack = await DotnetAsync(
                RepositoryRoot(),
                "pack", Path.Combine(RepositoryRoot(), "src", "Coiled.Remote.Package", "Coiled.Remote.Package.csproj"),
                "-c", "Release",
                "-o", packages,
                $"-p:PackageVersion={version}",
                // Build outputs go under the temp folder: nothing in the repository's bin/ and obj/ changes.
                "--artifacts-path", Path.Combine(root, "artifacts"),
                "--disable-build-servers");
            pack.ExitCode.Should().Be(0, "dotnet pack must succeed:\n{0}", pack.Output);
            File.Exists(Path.Combine(packages, $"Coiled.Remote.{version}.nupkg")).Should().BeTrue(pack.Output);

            var sources = await MachineNuGetSourcesAsync();
            var app = WriteApp(Path.Combine(root, "app"), "PackedApp", RunningAppProgram, version, packages, sources);
            var build = await DotnetAsync(app, "build", "-c", "Release", "--disable-build-servers");
            build.ExitCode.Should().Be(0, "the console app must build against the package:\n{0}", build.Output);
            File.Exists(Path.Combine(app, "bin", "Release", "net10.0", "coiled-remote-worker", "coiled-remote-worker.dll"))
                .Should().BeTrue("the package's build targets copy the worker daemon into the output folder");

            var run = await DotnetAsync(app, "run", "-c", "Release", "--no-build");
            run.ExitCode.Should().Be(0, "the console app must run:\n{0}", run.Output);
            run.StandardOutput.ReplaceLineEndings("\n").Should().Be(
                """
                workers: 2 Ready,Ready
                map: 1,4,9,16,25
                submit: hi-hi-hi
                stream: 1,8,27,64
                ran in other processes: True

                """,
                run.Output);

            var broken = WriteApp(Path.Combine(root, "broken"), "BrokenApp", NonStaticRemoteProgram, version, packages, sources);
            var brokenBuild = await DotnetAsync(broken, "build", "-c", "Release", "--disable-build-servers");
            brokenBuild.ExitCode.Should().NotBe(0, "a non-static [Remote] method is a compile-time error:\n{0}", brokenBuild.Output);
            brokenBuild.Output.Should().Contain("CR0001", "the package's analyzers report non-static [Remote] methods");
        }
        finally
        {
            DeleteDirectory(root);
            DeleteDirectory(Path.Combine(GlobalPackagesFolder(), "coiled.remote", version));
        }
    }

    /// <summary>Writes a console app with its own build settings, so that nothing of this repository's applies to it.</summary>
    private static string WriteApp(string folder, string name, string program, string version, string packages, IReadOnlyList<string> sources)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "Directory.Build.props"), "<Project />\n");
        File.WriteAllText(Path.Combine(folder, "Directory.Build.targets"), "<Project />\n");
        File.WriteAllText(Path.Combine(folder, "Directory.Packages.props"), "<Project />\n");

        var packageSources = new XElement("packageSources", new XElement("clear"), new XElement("add", new XAttribute("key", "packed"), new XAttribute("value", packages)));
        for (var i = 0; i < sources.Count; i++)
        {
            packageSources.Add(new XElement("add", new XAttribute("key", $"machine{i}"), new XAttribute("value", sources[i])));
        }

        new XDocument(new XElement("configuration", packageSources)).Save(Path.Combine(folder, "nuget.config"));

        File.WriteAllText(Path.Combine(folder, $"{name}.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
                <ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally>
                <NuGetAudit>false</NuGetAudit>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Coiled.Remote" Version="{version}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(folder, "Program.cs"), program);
        return folder;
    }

    /// <summary>The enabled package sources of this machine's NuGet configuration (e.g. nuget.org or its mirror).</summary>
    private static async Task<IReadOnlyList<string>> MachineNuGetSourcesAsync()
    {
        var list = await DotnetAsync(Path.GetTempPath(), "nuget", "list", "source", "--format", "short");
        list.ExitCode.Should().Be(0, list.Output);
        var sources = list.StandardOutput.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Where(line => line.StartsWith("E ", StringComparison.Ordinal))
            .Select(line => line[2..].Trim())
            .ToList();
        sources.Should().NotBeEmpty("the console app restores Coiled.Remote's dependencies from the machine's NuGet sources:\n{0}", list.Output);
        return sources;
    }

    private sealed record CommandResult(int ExitCode, string StandardOutput, string Output);

    /// <summary>Runs the dotnet CLI; on timeout kills it with its whole process tree.</summary>
    private static async Task<CommandResult> DotnetAsync(string workingDirectory, params string[] arguments)
    {
        var start = new ProcessStartInfo(DotnetHost())
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // The test host runs inside `dotnet test`: none of its MSBuild settings may reach the child builds.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(name);
        }

        start.Environment.Remove("COILED_REMOTE_WORKER");
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        start.Environment["UseSharedCompilation"] = "false";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";

        var stdout = new StringBuilder();
        var all = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (all)
            {
                stdout.Append(e.Data).Append('\n');
                all.Append(e.Data).Append('\n');
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (all)
            {
                all.Append("[stderr] ").Append(e.Data).Append('\n');
            }
        };

        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var timeout = new CancellationTokenSource(CommandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
            lock (all)
            {
                throw new TimeoutException($"dotnet {string.Join(' ', arguments)} did not finish within {CommandTimeout}:\n{all}");
            }
        }

        lock (all)
        {
            var command = $"$ dotnet {string.Join(' ', arguments)}   (in {workingDirectory}, exit code {process.ExitCode})\n";
            return new CommandResult(process.ExitCode, stdout.ToString(), command + all);
        }
    }

    private static string DotnetHost()
    {
        var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(host) && File.Exists(host))
        {
            return host;
        }

        var current = Environment.ProcessPath;
        return current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet" ? current : "dotnet";
    }

    private static string RepositoryRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "Coiled.Remote.sln")))
            {
                return folder.FullName;
            }
        }

        throw new InvalidOperationException($"No Coiled.Remote.sln above {AppContext.BaseDirectory}.");
    }

    private static string GlobalPackagesFolder()
        => Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    private static void DeleteDirectory(string path)
    {
        if (Directory.Exists(path))
        {
            Directory.Delete(path, recursive: true);
        }
    }
}
