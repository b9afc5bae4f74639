// HelloRemote: squares, a record and an async method run in separate worker processes,
// each of which received this application's assemblies over gRPC.
using Coiled.Remote;

await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2 });
Console.WriteLine($"Started {cluster.Workers.Count} workers: {string.Join(", ", cluster.Workers.Select(w => $"{w.Id} (pid {w.ProcessId})"))}");

double[] squares = await cluster.MapAsync(Jobs.Square, Enumerable.Range(0, 10).Select(i => (double)i));
Console.WriteLine($"Squares: {string.Join(", ", squares)}");

Point moved = await cluster.SubmitAsync(Jobs.Move, new Point(1, 2), 3.0);
Console.WriteLine($"Moved: {moved}");

int[] pids = await cluster.MapAsync(Jobs.WhoAmI, Enumerable.Range(0, 8));
foreach (var group in pids.Select((pid, item) => (pid, item)).GroupBy(p => p.pid))
{
    Console.WriteLine($"Process {group.Key} ran items {string.Join(", ", group.Select(g => g.item))}");
}

Console.WriteLine($"This process is {Environment.ProcessId}; the workers are other processes: {pids.All(p => p != Environment.ProcessId)}");

/// <summary>The methods this sample runs remotely.</summary>
public static class Jobs
{
    [Remote]
    public static double Square(double x) => x * x;

    [Remote]
    public static Point Move(Point p, double dx) => p with { X = p.X + dx };

    [Remote]
    public static async Task<int> WhoAmI(int item, CancellationToken cancellationToken)
    {
        await Task.Delay(50, cancellationToken);
        return Environment.ProcessId;
    }
}

/// <summary>A plain record: no serializer attributes needed.</summary>
public sealed record Point(double X, double Y);
