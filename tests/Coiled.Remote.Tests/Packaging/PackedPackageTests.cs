using System.IO.Compression;
using System.Xml.Linq;

namespace Coiled.Remote.Tests.Packaging;

/// <summary>
/// Uses the packed packages the way a user does: fresh console apps, outside the repository, whose only references
/// are <c>&lt;PackageReference Include="Coiled.Remote" /&gt;</c> (and Coiled.Remote.Ec2).
/// </summary>
[Collection(PackedPackagesCollection.Name)]
public sealed class PackedPackageTests(PackedPackagesFixture packages)
{
    private const string NonStaticRemoteProgram = """
        using Coiled.Remote;

        Console.WriteLine(new Jobs().Square(2));

        public class Jobs
        {
            [Remote]
            public int Square(int x) => x * x;
        }
        """;

    private const string Ec2Program = """
        using Coiled.Remote;
        using Coiled.Remote.Ec2;

        var options = new ClusterOptions { Workers = 2, Backend = new Ec2Backend(new Ec2Options { Region = "us-east-1" }) };
        Console.WriteLine(options.Workers);
        """;

    /// <summary>What the app in Apps/FullApiApp.cs prints, apart from its log lines (those start with "log: ").</summary>
    private const string FullApiOutput = """
        workers: 2 Ready,Ready, cores and memory known: True
        cluster progress: running 2/2
        dashboard: 127.0.0.1, snapshot served: True
        map: 1,4,9,16,25,36,49,64,81,100
        map progress: 10/10 done, 0 failed
        spans: 1 map, 10 task
        record: Point { X = 4, Y = 2 }
        no arguments: 42
        void: touched
        task: touched async
        valuetask: 42
        cancellation token parameter: 6
        cancelled on the worker: True
        tuples: a,b-b,c-c-c
        stream: 1,8,27,64
        stream from async source: 1,4,9
        outcomes: 1,2,System.InvalidOperationException,4
        remote exception: System.InvalidOperationException at item 0: three is not allowed; method Jobs.FailOnThree; worker known: True; inner: True
        retried: second attempt
        timeout: System.TimeoutException
        forwarded variable: hello from the caller
        ran in other processes: True
        worker lost: Jobs.Die item 0, 1 death(s)
        after a lost worker: 81
        cost: 0
        summary while running: 1 retried
        summary: 40 run, 4 failed, 1 retried, cost 0, worker-seconds and bytes counted: True
        connected: 2 Ready,Ready, addresses match: True
        connected map: 1,4,9,16,25,36
        ran on the hand-started workers: True
        connected cost known: False
        hand-started workers left running: True
        hand-started workers exited: True
        in-process: 4,9, 2 workers, in this process: True

        """;

    [Fact]
    public async Task ConsoleAppWithOnlyThePackage_UsesTheWholeApi_OnTwoLocalWorkersHandStartedWorkersAndInProcess()
    {
        var program = File.ReadAllText(Path.Combine(PackagingTools.RepositoryRoot(), "tests", "Coiled.Remote.Tests", "Packaging", "Apps", "FullApiApp.cs"));
        var app = PackagingTools.WriteApp(Path.Combine(packages.Root, "full-api"), "PackedApp", program, packages, "Coiled.Remote");
        var build = await PackagingTools.DotnetAsync(app, "build", "-c", "Release", "--disable-build-servers");
        build.ExitCode.Should().Be(0, "the console app must build against the package:\n{0}", build.Output);
        File.Exists(Path.Combine(app, "bin", "Release", "net10.0", "coiled-remote-worker", "coiled-remote-worker.dll"))
            .Should().BeTrue("the package's build targets copy the worker daemon into the output folder");

        var run = await PackagingTools.DotnetAsync(app, "run", "-c", "Release", "--no-build");
        run.ExitCode.Should().Be(0, "the console app must run:\n{0}", run.Output);
        var lines = run.StandardOutput.ReplaceLineEndings("\n").Split('\n');
        string.Join('\n', lines.Where(line => !line.StartsWith("log: ", StringComparison.Ordinal))).Should().Be(FullApiOutput, run.Output);

        // Its ILoggerProvider got the library's logs: start, a retry, a lost executor, and the summary at close.
        var logs = lines.Where(line => line.StartsWith("log: ", StringComparison.Ordinal)).ToList();
        logs.Should().Contain(line => line.StartsWith("log: Information Coiled.Remote.Cluster: Cluster started on local processes in "), run.Output);
        logs.Should().Contain(line => line.StartsWith("log: Information Coiled.Remote.Scheduling.Scheduler: Jobs.FailsOnce item 0 threw System.IO.IOException on worker ") && line.EndsWith("; retry 1 of 1"), run.Output);
        logs.Should().Contain(line => line.StartsWith("log: Warning Coiled.Remote.Scheduling.Scheduler: Worker ") && line.Contains(": its executor (process ") && line.Contains(" ended: exit code 3 "), run.Output);
        logs.Should().Contain(line => line.StartsWith("log: Information Coiled.Remote.Cluster: Cluster closed: 40 task(s) run, 4 failed, 1 retried; "), run.Output);
        logs.Should().Contain(line => line.StartsWith("log: Information Coiled.Remote.Cluster: Cluster started on workers started by hand in "), run.Output);
    }

    [Fact]
    public async Task ConsoleAppWithNonStaticRemoteMethod_FailsToBuildWithCR0001()
    {
        var broken = PackagingTools.WriteApp(Path.Combine(packages.Root, "broken"), "BrokenApp", NonStaticRemoteProgram, packages, "Coiled.Remote");
        var build = await PackagingTools.DotnetAsync(broken, "build", "-c", "Release", "--disable-build-servers");
        build.ExitCode.Should().NotBe(0, "a non-static [Remote] method is a compile-time error:\n{0}", build.Output);
        build.Output.Should().Contain("error CR0001", "the package's analyzers report non-static [Remote] methods");
    }

    [Fact]
    public async Task ConsoleAppWithEc2Package_RestoresAndBuilds()
    {
        var app = PackagingTools.WriteApp(Path.Combine(packages.Root, "ec2"), "Ec2App", Ec2Program, packages, "Coiled.Remote", "Coiled.Remote.Ec2");
        var build = await PackagingTools.DotnetAsync(app, "build", "-c", "Release", "--disable-build-servers");
        build.ExitCode.Should().Be(0, "an app referencing Coiled.Remote and Coiled.Remote.Ec2 must build:\n{0}", build.Output);
        File.Exists(Path.Combine(app, "bin", "Release", "net10.0", "Coiled.Remote.Ec2.dll")).Should().BeTrue(build.Output);
        File.Exists(Path.Combine(app, "bin", "Release", "net10.0", "AWSSDK.EC2.dll")).Should().BeTrue(build.Output);

        // The build points the app at the self-contained workers the package brings, which EC2 instances fetch.
        using var runtimeConfig = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(app, "bin", "Release", "net10.0", "Ec2App.runtimeconfig.json")));
        var bundles = runtimeConfig.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties").GetProperty("Coiled.Remote.Ec2.WorkerBundleDirectory").GetString();
        foreach (var runtime in new[] { "linux-x64", "linux-arm64" })
        {
            using var bundle = ZipFile.OpenRead(Path.Combine(bundles!, $"coiled-remote-worker-{runtime}.zip"));
            bundle.Entries.Select(e => e.FullName).Should().Contain(["coiled-remote-worker", "libcoreclr.so", "System.Private.CoreLib.dll", "Microsoft.AspNetCore.Server.Kestrel.Core.dll"],
                "the {0} worker is self-contained: the runtime and ASP.NET Core come inside", runtime);
        }
    }

    [Theory]
    [InlineData("Coiled.Remote", "lib/net10.0/Coiled.Remote.xml")]
    [InlineData("Coiled.Remote", "lib/net10.0/Coiled.Remote.Dashboard.xml")]
    [InlineData("Coiled.Remote.Ec2", "lib/net10.0/Coiled.Remote.Ec2.xml")]
    [InlineData("coiled-remote", "tools/net10.0/any/DotnetToolSettings.xml")]
    public void Package_HasDescriptionReadmeLicenseRepositoryTagsAndDocs(string id, string expectedFile)
    {
        using var package = ZipFile.OpenRead(packages.PackageFile(id));
        var nuspec = package.Entries.Single(e => e.FullName == $"{id}.nuspec");
        XDocument document;
        using (var stream = nuspec.Open())
        {
            document = XDocument.Load(stream);
        }

        var metadata = document.Root!.Elements().Single(e => e.Name.LocalName == "metadata");
        string? Value(string name) => metadata.Elements().SingleOrDefault(e => e.Name.LocalName == name)?.Value;
        string? Attribute(string element, string name) => metadata.Elements().SingleOrDefault(e => e.Name.LocalName == element)?.Attribute(name)?.Value;

        Value("id").Should().Be(id);
        Value("version").Should().Be(packages.Version);
        Value("description").Should().NotBeNullOrWhiteSpace();
        Value("description")!.Length.Should().BeGreaterThan(40, "the description says what the package does");
        Value("tags").Should().NotBeNullOrWhiteSpace();
        Value("license").Should().Be("MIT");
        Attribute("license", "type").Should().Be("expression");
        Attribute("repository", "url").Should().StartWith("https://github.com/");
        Value("projectUrl").Should().StartWith("https://");
        Value("authors").Should().NotBeNullOrWhiteSpace();

        var readme = Value("readme");
        readme.Should().Be("README.md");
        var readmeEntry = package.Entries.SingleOrDefault(e => e.FullName == readme);
        readmeEntry.Should().NotBeNull("the readme the nuspec names is in the package");
        using (var reader = new StreamReader(readmeEntry!.Open()))
        {
            reader.ReadToEnd().Should().StartWith($"# {id}\n");
        }

        package.Entries.Select(e => e.FullName).Should().Contain(expectedFile, "libraries ship their XML docs; the tool ships its settings");
    }
}
