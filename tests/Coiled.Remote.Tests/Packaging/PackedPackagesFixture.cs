namespace Coiled.Remote.Tests.Packaging;

/// <summary>
/// Packs the three packages of this repository (Coiled.Remote, Coiled.Remote.Ec2 and the coiled-remote tool) once,
/// with one version no earlier run used, into one temp folder that the packaging tests use as a package source.
/// On disposal it deletes that folder and the version from the global packages folder.
/// </summary>
public sealed class PackedPackagesFixture : IAsyncLifetime
{
    public static readonly string[] PackageIds = ["Coiled.Remote", "Coiled.Remote.Ec2", "coiled-remote"];

    private static readonly string[] Projects =
    [
        "src/Coiled.Remote.Package/Coiled.Remote.Package.csproj",
        "src/Coiled.Remote.Ec2/Coiled.Remote.Ec2.csproj",
        "src/Coiled.Remote.Cli/Coiled.Remote.Cli.csproj",
    ];

    /// <summary>The temp folder that holds everything the packaging tests create.</summary>
    public string Root { get; } = Directory.CreateTempSubdirectory("coiled-remote-pack-").FullName;

    /// <summary>A version no earlier run used: the global packages folder can never hand back a stale package.</summary>
    public string Version { get; } = $"0.0.0-packtest.{Guid.NewGuid():N}";

    /// <summary>The folder the packages were packed into.</summary>
    public string Folder => Path.Combine(Root, "packages");

    public IReadOnlyList<string> MachineSources { get; private set; } = [];

    public string PackageFile(string id) => Path.Combine(Folder, $"{id}.{Version}.nupkg");

    public async Task InitializeAsync()
    {
        // The dotnet commands these tests run make temp folders of their own; they go here and leave with Root.
        PackagingTools.ChildTempDirectory = Directory.CreateDirectory(Path.Combine(Root, "tmp")).FullName;
        var repository = PackagingTools.RepositoryRoot();
        // One build of the three projects and what they share: a solution filter over the repository's solution.
        var filter = Path.Combine(Root, "packages.slnf");
        File.WriteAllText(filter, System.Text.Json.JsonSerializer.Serialize(new
        {
            solution = new { path = Path.Combine(repository, "Coiled.Remote.sln"), projects = Projects },
        }));
        var pack = await PackagingTools.DotnetAsync(
            repository,
            "pack", filter,
            "-c", "Release",
            "-o", Folder,
            $"-p:PackageVersion={Version}",
            // Build outputs go under the temp folder: nothing in the repository's bin/ and obj/ changes.
            "--artifacts-path", Path.Combine(Root, "artifacts"),
            "--disable-build-servers");
        pack.ExitCode.Should().Be(0, "dotnet pack must succeed:\n{0}", pack.Output);
        foreach (var id in PackageIds)
        {
            File.Exists(PackageFile(id)).Should().BeTrue("dotnet pack makes {0}:\n{1}", id, pack.Output);
        }

        MachineSources = await PackagingTools.MachineNuGetSourcesAsync();
    }

    public Task DisposeAsync()
    {
        PackagingTools.DeleteDirectory(Root);
        foreach (var id in PackageIds)
        {
            PackagingTools.DeleteDirectory(Path.Combine(PackagingTools.GlobalPackagesFolder(), id.ToLowerInvariant(), Version));
        }

        return Task.CompletedTask;
    }
}

/// <summary>The packaging tests share one pack (<see cref="PackedPackagesFixture"/>) and run one after another.</summary>
[CollectionDefinition(Name)]
public sealed class PackedPackagesCollection : ICollectionFixture<PackedPackagesFixture>
{
    public const string Name = "Packed packages";
}
