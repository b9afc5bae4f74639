using System.Diagnostics;

namespace Coiled.Remote.Tests.Support;

/// <summary>Checks on real processes by id.</summary>
public static class ProcessAssert
{
    public static bool IsRunning(int processId)
    {
        try
        {
            using var process = Process.GetProcessById(processId);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>Waits (a generous safety net, not a measurement) until none of the processes runs.</summary>
    public static async Task AllExitAsync(IEnumerable<int> processIds, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        var ids = processIds.ToList();
        while (ids.Any(IsRunning) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        ids.Where(IsRunning).Should().BeEmpty("every worker process must have exited within {0}", within);
    }
}
