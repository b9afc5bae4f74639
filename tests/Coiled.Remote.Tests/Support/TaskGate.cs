using System.Globalization;

namespace Coiled.Remote.Tests.Support;

/// <summary>
/// A folder shared by a test and the [Remote] methods it runs, on any worker of this machine: each task that enters
/// the gate leaves a file saying which item it is and which worker process runs it (the daemon, for a task in one of
/// its executors), then waits until the test releases the gate. A test thus knows which tasks run where, and acts while
/// they provably run, without guessing how long they take.
/// </summary>
public sealed class TaskGate : IDisposable
{
    private const string ReleaseFile = "release";
    private readonly TempDirectory _folder = new();

    /// <summary>What the [Remote] method is given, so that it finds this gate.</summary>
    public string Folder => _folder.Path;

    /// <summary>Called by a [Remote] method: says it runs, then waits until the gate is released or the task is cancelled.</summary>
    public static async Task EnterAsync(string folder, int item, CancellationToken cancellationToken)
    {
        await File.WriteAllTextAsync(Path.Combine(folder, $"started-{item}-{TestProcesses.WorkerProcessId()}"), string.Empty, CancellationToken.None);
        // A gate whose test is over (its folder deleted) lets its tasks go too.
        while (Directory.Exists(folder) && !File.Exists(Path.Combine(folder, ReleaseFile)))
        {
            await Task.Delay(10, cancellationToken);
        }
    }

    /// <summary>Every task that entered so far: its item and the process that ran it (an item run twice is listed twice).</summary>
    public IReadOnlyList<(int Item, int ProcessId)> Started()
        => [.. Directory.EnumerateFiles(Folder, "started-*")
            .Select(path => Path.GetFileName(path).Split('-'))
            .Select(parts => (Item: int.Parse(parts[1], CultureInfo.InvariantCulture), ProcessId: int.Parse(parts[2], CultureInfo.InvariantCulture)))
            .OrderBy(started => started.Item)];

    /// <summary>Waits (a generous safety net, not a measurement) until the tasks that entered satisfy <paramref name="condition"/>.</summary>
    public async Task<IReadOnlyList<(int Item, int ProcessId)>> WaitUntilAsync(Func<IReadOnlyList<(int Item, int ProcessId)>, bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (true)
        {
            var started = Started();
            if (condition(started))
            {
                return started;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Waited 2 minutes for {what}; tasks that entered the gate: {string.Join(", ", started.Select(s => $"{s.Item} in {s.ProcessId}"))}.");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>Lets every waiting task, and every later one, return.</summary>
    public void Release() => File.WriteAllText(Path.Combine(Folder, ReleaseFile), string.Empty);

    public void Dispose()
    {
        Release();
        _folder.Dispose();
    }
}
