using System.Reflection;
using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Tests.Telemetry;

/// <summary>
/// Log lines go through [LoggerMessage] methods with event ids: unique within an assembly, each area in its own range,
/// and no direct ILogger.LogX calls left in any project under src/.
/// </summary>
public sealed class LogEventIdTests
{
    public static TheoryData<string> Assemblies => ["Coiled.Remote", "Coiled.Remote.Worker", "Coiled.Remote.Dashboard"];

    [Theory]
    [MemberData(nameof(Assemblies))]
    public void LoggerMessageMethods_OfAProductAssembly_HaveUniqueEventIdsInTheirAreasRanges(string name)
    {
        var methods = LogEventIds.Methods(Assembly.Load(name));

        methods.Should().NotBeEmpty("{0} logs through [LoggerMessage] methods", name);
        LogEventIds.Duplicates(methods).Should().BeEmpty();
        LogEventIds.OutOfRange(methods).Should().BeEmpty();
    }

    [Theory]
    [InlineData("Coiled.Remote", "Coiled.Remote.Synchronization.SynchronizationLog")]
    [InlineData("Coiled.Remote", "Coiled.Remote.BackendLog")]
    [InlineData("Coiled.Remote", "Coiled.Remote.Scheduling.SchedulerLog")]
    [InlineData("Coiled.Remote", "Coiled.Remote.ClusterLog")]
    [InlineData("Coiled.Remote", "Coiled.Remote.KeptClusters.KeptClusterLog")]
    [InlineData("Coiled.Remote", "Coiled.Remote.Dashboard.DashboardLog")]
    [InlineData("Coiled.Remote.Dashboard", "Coiled.Remote.Dashboard.DashboardServerLog")]
    [InlineData("Coiled.Remote.Worker", "Coiled.Remote.Worker.WorkerLog")]
    [InlineData("Coiled.Remote.Worker", "Coiled.Remote.Worker.Executors.ExecutorLog")]
    public void AreaLogClass_HasLogMethods(string assembly, string area)
        => LogEventIds.Methods(Assembly.Load(assembly)).Should().Contain(m => m.Area == area, "the range check must not pass for want of methods");

    [Fact]
    public void Checks_OnDuplicateAndStrayIds_Fail()
    {
        LogEventIds.Duplicates([new("A", "One", 7), new("B", "Two", 7)]).Should().ContainSingle();
        LogEventIds.OutOfRange([new("Coiled.Remote.Worker.WorkerLog", "Stray", 1100)]).Should().ContainSingle();
        LogEventIds.OutOfRange([new("Coiled.Remote.Scheduling.SchedulerLog", "Borrowed", 4100)]).Should().ContainSingle();
        LogEventIds.OutOfRange([new("Coiled.Remote.Scheduling.SchedulerLog", "NoId", -1)]).Should().ContainSingle();
        LogEventIds.OutOfRange([new("Coiled.Remote.Scheduling.SchedulerLog", "Own", 4000)]).Should().BeEmpty();
        LogEventIds.OutOfRange([new("Coiled.Remote.Unranged.OtherLog", "Borrowed", 3000)]).Should().ContainSingle();
        LogEventIds.OutOfRange([new("Coiled.Remote.Unranged.OtherLog", "Own", 9000)]).Should().BeEmpty();
    }

    /// <summary>Every project folder under src/ that has C# sources (src/Coiled.Remote.Package has none).</summary>
    private static readonly string[] Projects =
    [
        "src/Coiled.Remote",
        "src/Coiled.Remote.Worker",
        "src/Coiled.Remote.Dashboard",
        "src/Coiled.Remote.WorkerDaemon",
        "src/Coiled.Remote.Protocol",
        "src/Coiled.Remote.Ec2",
        "src/Coiled.Remote.Cli",
        "src/Coiled.Remote.Generators",
    ];

    public static TheoryData<string> ProjectFolders => new(Projects);

    [Theory]
    [MemberData(nameof(ProjectFolders))]
    public void ProjectFolder_HasNoDirectLoggerCalls(string folder)
    {
        var path = Path.Combine(LogEventIds.RepositoryRoot(), folder);
        Directory.EnumerateFiles(path, "*.cs", SearchOption.AllDirectories).Should().NotBeEmpty("{0} is where the sources are", path);

        LogEventIds.DirectCalls(path).Should().BeEmpty("log lines go through the area's [LoggerMessage] methods");
    }

    [Fact]
    public void ProjectFolders_AreEveryProjectUnderSrcWithSources()
    {
        var root = LogEventIds.RepositoryRoot();
        var projects = from folder in Directory.EnumerateDirectories(Path.Combine(root, "src"))
                       where Directory.EnumerateFiles(folder, "*.csproj").Any()
                       where Directory.EnumerateFiles(folder, "*.cs", SearchOption.AllDirectories)
                           .Any(file => !Path.GetRelativePath(folder, file).Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj"))
                       select Path.GetRelativePath(root, folder).Replace(Path.DirectorySeparatorChar, '/');

        projects.Should().BeEquivalentTo(Projects, "a new project's log lines are checked too");
    }

    [Fact]
    public void DirectCallCheck_FindsDirectCalls()
    {
        const string Source = """
            logger.LogInformation("Worker {WorkerId} started", id);
            _logger?.LogWarning (
                "x");
            logger.Log(LogLevel.Debug, "y");
            logger.ShutdownRequested(id, reason);
            ExecutorLog.ExecutorEnded(logger, 1, "e", "how");
            """;

        LogEventIds.DirectCallLines(Source).Should().Equal(1, 2, 4);
    }
}
