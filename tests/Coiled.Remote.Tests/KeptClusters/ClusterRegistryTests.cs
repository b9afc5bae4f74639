using Coiled.Remote.KeptClusters;
using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Tests.KeptClusters;

/// <summary>The registry of named clusters: whole writes, private files, one holder of a name's lock at a time.</summary>
public sealed class ClusterRegistryTests
{
    private static readonly RegisteredCluster Entry = new()
    {
        Name = "sample",
        Backend = "local processes",
        Token = "a-token-of-the-cluster",
        StartedAt = new DateTimeOffset(2026, 12, 1, 6, 0, 0, TimeSpan.Zero),
        AttachedAt = new DateTimeOffset(2026, 12, 1, 6, 5, 0, TimeSpan.Zero),
        KeepAlive = TimeSpan.FromMinutes(30),
        Workers = [new RegisteredWorker(new Uri("http://127.0.0.1:40001/")) { ProcessId = 4242, ProcessStartedAt = new DateTimeOffset(2026, 12, 1, 6, 0, 0, TimeSpan.Zero) }],
    };

    [Fact]
    public void Write_ThenRead_GivesTheSameEntryBack()
    {
        using var folder = new TempDirectory();
        var registry = new ClusterRegistry(Path.Combine(folder.Path, "clusters"));

        registry.Write(Entry);
        var read = registry.Read("sample")!;

        read.Should().BeEquivalentTo(Entry);
        registry.Names().Should().Equal("sample");
        Directory.GetFiles(registry.Directory).Select(Path.GetFileName).Should().Equal("sample.json");
    }

    [Fact]
    public void Read_NameNeverRegistered_IsNull()
    {
        using var folder = new TempDirectory();

        new ClusterRegistry(Path.Combine(folder.Path, "none-yet")).Read("sample").Should().BeNull();
    }

    [Fact]
    public void Read_DamagedFile_ThrowsInvalidDataNamingTheFile()
    {
        using var folder = new TempDirectory();
        var registry = new ClusterRegistry(folder.Path);
        File.WriteAllText(Path.Combine(folder.Path, "sample.json"), "{ \"name\": \"sample\", ");

        var read = () => registry.Read("sample");

        read.Should().Throw<InvalidDataException>().WithMessage($"{Path.Combine(folder.Path, "sample.json")} is not a named cluster's registry entry: *");
    }

    [UnixFact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void Write_FolderMadeByHandForEveryone_BecomesPrivateAndTheFileIsTheUsersAlone()
    {
        using var folder = new TempDirectory();
        var directory = Path.Combine(folder.Path, "clusters");
        Directory.CreateDirectory(directory, (UnixFileMode)0b111_111_111);
        File.SetUnixFileMode(directory, (UnixFileMode)0b111_111_111);

        new ClusterRegistry(directory).Write(Entry);

        File.GetUnixFileMode(directory).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.GetUnixFileMode(Path.Combine(directory, "sample.json")).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    [Fact]
    public async Task LockAsync_HeldByAnother_WaitsUntilItIsLetGo()
    {
        using var folder = new TempDirectory();
        var registry = new ClusterRegistry(folder.Path);
        var first = await registry.LockAsync("sample", TimeSpan.Zero, TimeProvider.System, CancellationToken.None);

        var second = registry.LockAsync("sample", TimeSpan.FromMinutes(1), TimeProvider.System, CancellationToken.None);
        var other = await registry.LockAsync("other", TimeSpan.Zero, TimeProvider.System, CancellationToken.None);
        second.IsCompleted.Should().BeFalse("the first holder still has it");
        first.Dispose();

        using (await second.WaitAsync(TimeSpan.FromMinutes(1)))
        {
            other.Dispose();
        }
    }

    [Fact]
    public async Task LockAsync_HeldLongerThanThePatience_ThrowsSayingWhoHoldsItAndWhatToDo()
    {
        using var folder = new TempDirectory();
        var registry = new ClusterRegistry(folder.Path);
        using var held = await registry.LockAsync("sample", TimeSpan.Zero, TimeProvider.System, CancellationToken.None);

        var again = () => registry.LockAsync("sample", TimeSpan.Zero, TimeProvider.System, CancellationToken.None);

        (await again.Should().ThrowAsync<TimeoutException>()).Which.Message.Should()
            .StartWith("Named cluster 'sample' was being started or stopped by another process for 0 s").And.EndWith("try again once it is done.");
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData("/tmp/absolute")]
    [InlineData("")]
    public async Task EveryOperation_NameThatIsAPath_IsRefusedBeforeTheFileSystem(string name)
    {
        using var folder = new TempDirectory();
        var registry = new ClusterRegistry(Path.Combine(folder.Path, "clusters"));

        registry.Invoking(r => r.Read(name)).Should().Throw<ArgumentException>().WithMessage($"'{name}' is not a cluster name: *");
        registry.Invoking(r => r.Delete(name)).Should().Throw<ArgumentException>();
        await registry.Invoking(r => r.LockAsync(name, TimeSpan.Zero, TimeProvider.System, CancellationToken.None)).Should().ThrowAsync<ArgumentException>();
        await FluentActions.Invoking(() => NamedClusters.StopAsync(registry, folder.Path, name, null, CancellationToken.None)).Should().ThrowAsync<ArgumentException>();
        Directory.EnumerateFileSystemEntries(folder.Path, "*", SearchOption.AllDirectories).Should().OnlyContain(p => p == registry.Directory);
    }

    [Fact]
    public void Read_EntryOfAnotherNameUnderThisName_ThrowsInvalidDataNamingBoth()
    {
        using var folder = new TempDirectory();
        var registry = new ClusterRegistry(folder.Path);
        registry.Write(Entry);
        File.Move(Path.Combine(folder.Path, "sample.json"), Path.Combine(folder.Path, "copied.json"));

        var read = () => registry.Read("copied");

        read.Should().Throw<InvalidDataException>().WithMessage($"{Path.Combine(folder.Path, "copied.json")} is the entry of named cluster 'sample', not of 'copied'.");
    }

    [Fact]
    public void ToString_NeverShowsTheToken()
        => Entry.ToString().Should().NotContain(Entry.Token).And.Contain("Token = ***");
}
