namespace Coiled.Remote.Tests.Support;

/// <summary>Kills one worker process of a two-worker local cluster and waits until the cluster has replaced it.</summary>
internal static class WorkerKill
{
    /// <summary>The killed worker's process id and its replacement's.</summary>
    public static async Task<(int Victim, int Replacement)> KillOneAndAwaitReplacementAsync(Cluster cluster)
    {
        var first = cluster.Workers.Select(w => w.ProcessId).ToList();
        var victim = first[0];
        using (var process = System.Diagnostics.Process.GetProcessById(victim))
        {
            process.Kill();
        }

        await Eventually.HoldsAsync(() => cluster.Workers.Count(w => w.State == WorkerState.Ready) == 2 && cluster.Workers.Count == 3, "a replacement for the killed worker");
        return (victim, cluster.Workers.Single(w => w.State == WorkerState.Ready && !first.Contains(w.ProcessId)).ProcessId);
    }
}
