// EditRunLoop: the edit-run loop on a kept named cluster. The first run starts two local workers and keeps them for ten
// minutes after it ends; each later run (after an edit and a rebuild, or not) attaches to them in milliseconds,
// synchronizes only the files that changed, and runs its new code. `coiled-remote stop edit-run-loop` stops them sooner.
using System.Diagnostics;
using Coiled.Remote;

var clock = Stopwatch.StartNew();
await using var cluster = await Cluster.StartAsync(new ClusterOptions
{
    Name = "edit-run-loop",
    Workers = 2,
    KeepAlive = TimeSpan.FromMinutes(10),
});
var started = clock.Elapsed;
var greeting = await cluster.SubmitAsync(Jobs.Greet, "edit Jobs.Greet, then run again");
var firstResult = clock.Elapsed;

Console.WriteLine(greeting);
Console.WriteLine(
    $"StartAsync {started.TotalMilliseconds:0} ms, first result at {firstResult.TotalMilliseconds:0} ms, " +
    $"{cluster.Summary.SyncBytes:N0} bytes synchronized, workers {string.Join(", ", cluster.Workers.Select(w => $"pid {w.ProcessId}"))}");
Console.WriteLine("The workers stay 10 minutes after this run: run again to attach to them.");

/// <summary>The method this sample runs remotely: change it, rebuild, run again.</summary>
public static class Jobs
{
    [Remote]
    public static string Greet(string text) => $"Hello from worker process {Environment.ProcessId}: {text}";
}
