using Coiled.Remote.Synchronization;
using Coiled.Remote.Tests.Support;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Tests.Synchronization;

/// <summary>
/// On Windows a process may hold a file open so that no one else can read it: the app's own log or database in its
/// output folder. Such a file is left out with a warning; code held so fails the start, naming it.
/// </summary>
public sealed class HeldOpenFileTests : IDisposable
{
    private readonly TempDirectory _app = new("coiled-remote-held-");
    private readonly CapturingLoggerProvider _logs = new();

    public void Dispose() => _app.Dispose();

    [WindowsFact]
    public void Scan_DataFileHeldOpenWithoutReadSharing_LeavesItOutWithAWarning()
    {
        File.WriteAllText(Path.Combine(_app.Path, "settings.txt"), "shipped with the app");
        var log = Path.Combine(_app.Path, "app.log");
        using var held = new FileStream(log, FileMode.Create, FileAccess.ReadWrite, FileShare.None);

        var snapshot = ApplicationFolder.Scan(_app.Path, "App", _logs.CreateLogger("test")).SnapshotFor(RuntimePlatform.Parse("linux-x64"));

        snapshot.Manifest.Files.Select(f => f.Path).Should().Equal("settings.txt");
        var warning = _logs.Entries.Should().ContainSingle(e => e.Level == LogLevel.Warning).Which;
        warning.Message.Should().StartWith($"{log} is held open by another process that lets no one else read it (");
        warning.Message.Should().EndWith("); it is left out of the synchronization, and workers will not have it. Close it before starting the cluster, or keep it out of the output folder");
    }

    [WindowsFact]
    public void Scan_AssemblyHeldOpenWithoutReadSharing_FailsNamingItAndWhatToDo()
    {
        var assembly = Path.Combine(_app.Path, "App.dll");
        using var held = new FileStream(assembly, FileMode.Create, FileAccess.ReadWrite, FileShare.None);

        var act = () => ApplicationFolder.Scan(_app.Path, "App", _logs.CreateLogger("test"));

        var message = act.Should().Throw<EnvironmentSyncException>().Which.Message;
        message.Should().StartWith($"The application file {assembly} could not be read for synchronization: ");
        message.Should().EndWith("Another process holds it open without letting others read it: close that process, or rebuild, and start the cluster again.");
    }
}
