using System.Diagnostics;
using System.Text;
using System.Xml.Linq;

namespace Coiled.Remote.Tests.Packaging;

/// <summary>What the packaging tests share: running the dotnet CLI and other processes, writing consumer apps, cleaning up.</summary>
internal static class PackagingTools
{
    /// <summary>A safety net for one dotnet command: a pack of the whole solution on a busy 2-core machine takes minutes.</summary>
    public static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(15);

    public sealed record CommandResult(int ExitCode, string StandardOutput, string Output);

    /// <summary>
    /// Writes a console app with its own build settings (empty Directory.Build.props/targets/Packages.props, central
    /// package management off, its own nuget.config: the pack folder first, then this machine's sources), so that
    /// nothing of this repository applies to it.
    /// </summary>
    public static string WriteApp(string folder, string name, string program, PackedPackagesFixture packages, params string[] packageIds)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "Directory.Build.props"), "<Project />\n");
        File.WriteAllText(Path.Combine(folder, "Directory.Build.targets"), "<Project />\n");
        File.WriteAllText(Path.Combine(folder, "Directory.Packages.props"), "<Project />\n");

        var packageSources = new XElement("packageSources", new XElement("clear"), new XElement("add", new XAttribute("key", "packed"), new XAttribute("value", packages.Folder)));
        for (var i = 0; i < packages.MachineSources.Count; i++)
        {
            packageSources.Add(new XElement("add", new XAttribute("key", $"machine{i}"), new XAttribute("value", packages.MachineSources[i])));
        }

        new XDocument(new XElement("configuration", packageSources)).Save(Path.Combine(folder, "nuget.config"));

        var references = string.Concat(packageIds.Select(id => $"""

                <PackageReference Include="{id}" Version="{packages.Version}" />
            """));
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
              <ItemGroup>{references}
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(folder, "Program.cs"), program);
        return folder;
    }

    /// <summary>The enabled package sources of this machine's NuGet configuration (e.g. nuget.org or its mirror).</summary>
    public static async Task<IReadOnlyList<string>> MachineNuGetSourcesAsync()
    {
        var list = await DotnetAsync(Path.GetTempPath(), "nuget", "list", "source", "--format", "short");
        list.ExitCode.Should().Be(0, list.Output);
        var sources = list.StandardOutput.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Where(line => line.StartsWith("E ", StringComparison.Ordinal))
            .Select(line => line[2..].Trim())
            .ToList();
        sources.Should().NotBeEmpty("the consumer apps restore Coiled.Remote's dependencies from the machine's NuGet sources:\n{0}", list.Output);
        return sources;
    }

    /// <summary>Runs the dotnet CLI to completion; on timeout kills it with its whole process tree.</summary>
    public static Task<CommandResult> DotnetAsync(string workingDirectory, params string[] arguments)
        => RunAsync(DotnetHost(), workingDirectory, arguments);

    /// <summary>Runs the dotnet CLI to completion with <paramref name="tempDirectory"/> as its temp folder (TMPDIR), whatever <see cref="ChildTempDirectory"/> says.</summary>
    public static Task<CommandResult> DotnetWithTempAsync(string tempDirectory, string workingDirectory, params string[] arguments)
        => RunCoreAsync(StartInfo(DotnetHost(), workingDirectory, arguments, tempDirectory));

    /// <summary>Runs a program to completion with the isolated environment of <see cref="StartInfo"/>; on timeout kills its process tree.</summary>
    public static Task<CommandResult> RunAsync(string program, string workingDirectory, params string[] arguments)
        => RunCoreAsync(StartInfo(program, workingDirectory, arguments));

    private static async Task<CommandResult> RunCoreAsync(ProcessStartInfo start)
    {
        var program = start.FileName;
        var workingDirectory = start.WorkingDirectory;
        var arguments = start.ArgumentList.ToArray();
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
                throw new TimeoutException($"{program} {string.Join(' ', arguments)} did not finish within {CommandTimeout}:\n{all}");
            }
        }

        lock (all)
        {
            var command = $"$ {Path.GetFileName(program)} {string.Join(' ', arguments)}   (in {workingDirectory}, exit code {process.ExitCode})\n";
            return new CommandResult(process.ExitCode, stdout.ToString(), command + all);
        }
    }

    /// <summary>
    /// How every child process of these tests starts: output redirected, and none of the test host's MSBuild settings
    /// or worker override (the test host runs inside <c>dotnet test</c>), no build servers left behind.
    /// </summary>
    /// <summary>Where child processes put their temp files (TMPDIR); set by the fixture to a folder it deletes.</summary>
    public static string? ChildTempDirectory { get; set; }

    public static ProcessStartInfo StartInfo(string program, string workingDirectory, IEnumerable<string> arguments, string? tempDirectory = null)
    {
        var start = new ProcessStartInfo(program)
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

        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(name);
        }

        start.Environment.Remove("COILED_REMOTE_WORKER");
        if ((tempDirectory ?? ChildTempDirectory) is { } temp)
        {
            start.Environment["TMPDIR"] = temp;
        }

        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        start.Environment["UseSharedCompilation"] = "false";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        // A tool's apphost finds the runtime through DOTNET_ROOT when dotnet is not installed where it looks by default.
        start.Environment["DOTNET_ROOT"] = Path.GetDirectoryName(Path.GetFullPath(ResolveOnPath(DotnetHost())))!;
        return start;
    }

    public static string DotnetHost()
    {
        var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(host) && File.Exists(host))
        {
            return host;
        }

        var current = Environment.ProcessPath;
        return current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet" ? current : "dotnet";
    }

    public static string RepositoryRoot()
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

    public static string GlobalPackagesFolder()
        => Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    public static void DeleteDirectory(string path)
    {
        if (Directory.Exists(path))
        {
            Directory.Delete(path, recursive: true);
        }
    }

    private static string ResolveOnPath(string program)
    {
        if (Path.IsPathRooted(program))
        {
            return new FileInfo(program).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? program;
        }

        foreach (var folder in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(folder, program);
            if (File.Exists(candidate))
            {
                return new FileInfo(candidate).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? candidate;
            }
        }

        return program;
    }
}
