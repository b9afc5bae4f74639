using Coiled.Remote.Worker;
using Coiled.Remote.Worker.Executors;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coiled.Remote.Tests.Backends;

/// <summary>
/// A WinForms or WPF caller has no console, and Windows gives each console process started from it a window of its own
/// unless told not to: neither worker daemons nor their executors may open one.
/// </summary>
public sealed class ProcessWindowTests
{
    [Fact]
    public void WorkerDaemonStartInfo_AsksForNoWindow()
    {
        var launch = new WorkerLaunch(1, "token", TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), NullLoggerFactory.Instance);

        var start = new LocalProcessBackend().StartInfo("coiled-remote-worker.dll", "cache", 1, launch);

        start.CreateNoWindow.Should().BeTrue();
        start.UseShellExecute.Should().BeFalse("CreateNoWindow applies only to processes started without the shell");
    }

    [Fact]
    public void ExecutorStartInfo_AsksForNoWindow()
    {
        var options = new ExecutorOptions { FileName = "coiled-remote-worker" };

        var start = ExecutorProcess.StartInfo(options, environment: null, "folder", 1, new TaskLimits(TimeSpan.FromSeconds(1), 1024, true));

        start.CreateNoWindow.Should().BeTrue();
        start.UseShellExecute.Should().BeFalse("CreateNoWindow applies only to processes started without the shell");
        start.WorkingDirectory.Should().Be(Path.Combine("folder", "work"));
    }
}
