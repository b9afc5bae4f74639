using System.Globalization;

namespace Coiled.Remote.Tests.Support;

/// <summary>Which process a [Remote] method runs in.</summary>
public static class TestProcesses
{
    /// <summary>
    /// The worker daemon's process id: the parent's when the method runs in one of its executor processes
    /// (<c>coiled-remote-worker --executor</c>), else the method's own process (an in-process worker).
    /// </summary>
    public static int WorkerProcessId()
        => Environment.GetCommandLineArgs().Contains(Coiled.Remote.Worker.Executors.ExecutorHost.Mode) ? ParentProcessId() : Environment.ProcessId;

    /// <summary>This process's parent (Linux: the fourth field of /proc/self/stat, after the name in parentheses).</summary>
    private static int ParentProcessId()
    {
        var stat = File.ReadAllText("/proc/self/stat");
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], CultureInfo.InvariantCulture);
    }
}
