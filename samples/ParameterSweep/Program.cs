// ParameterSweep: a CPU-bound grid search over two parameters on two workers, with a console progress bar drawn from MapProgress,
// and the cluster's live dashboard to watch in a browser while it runs.
// dotnet run --project samples/ParameterSweep [-- --keep-open SECONDS]: the dashboard stays up that long after the sweep.
using Coiled.Remote;

var keepOpen = args.Length == 2 && args[0] == "--keep-open" && int.TryParse(args[1], out var seconds) && seconds >= 0
    ? TimeSpan.FromSeconds(seconds)
    : args.Length == 0 ? TimeSpan.Zero : throw new ArgumentException("Usage: ParameterSweep [--keep-open SECONDS]");

// The grid: learning rates times momenta of a small gradient descent on the Rosenbrock function.
double[] rates = [.. Enumerable.Range(0, 16).Select(i => 0.0001 * (i + 1))];
double[] momenta = [.. Enumerable.Range(0, 12).Select(i => i / 12.0)];
var grid = (from rate in rates from momentum in momenta select (rate, momentum)).ToList();

await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2 });
Console.WriteLine($"Sweeping {grid.Count} parameter pairs ({rates.Length} rates x {momenta.Length} momenta) on {cluster.Workers.Count} workers.");
Console.WriteLine(cluster.DashboardUri is { } dashboard ? $"Dashboard: {dashboard}" : "Dashboard: off (see the log for why)");

// Progress arrives at most about ten times a second, and once more at the end.
var bar = new ProgressBar(Console.Out, width: 40);
double[] losses = await cluster.MapAsync(Descent.FinalLoss, grid, new InlineProgress<MapProgress>(bar.Draw));
bar.Finish();

var best = Enumerable.Range(0, grid.Count).Where(i => !double.IsNaN(losses[i])).MinBy(i => losses[i]);
Console.WriteLine($"best: rate {grid[best].rate:0.0000}, momentum {grid[best].momentum:0.00} -> loss {losses[best]:E3}");
var diverged = losses.Count(double.IsNaN);
Console.WriteLine($"{diverged} of {grid.Count} pairs diverged.");
if (keepOpen > TimeSpan.Zero && cluster.DashboardUri is not null)
{
    Console.WriteLine($"The dashboard stays up for {keepOpen.TotalSeconds:0} s more: {cluster.DashboardUri}");
    await Task.Delay(keepOpen);
}

return double.IsFinite(losses[best]) ? 0 : 1;

/// <summary>The objective: gradient descent with momentum on the Rosenbrock function from a fixed start.</summary>
public static class Descent
{
    private const int Steps = 1_000_000;

    /// <summary>The loss after <see cref="Steps"/> steps with these settings; NaN when the descent diverged.</summary>
    [Remote]
    public static double FinalLoss(double rate, double momentum)
    {
        double x = -1.5, y = 2.0, vx = 0, vy = 0;
        for (var step = 0; step < Steps; step++)
        {
            // Rosenbrock: f = (1 - x)^2 + 100 (y - x^2)^2, minimum 0 at (1, 1).
            var gx = -2 * (1 - x) - 400 * x * (y - x * x);
            var gy = 200 * (y - x * x);
            vx = momentum * vx - rate * gx;
            vy = momentum * vy - rate * gy;
            x += vx;
            y += vy;
            if (!double.IsFinite(x) || Math.Abs(x) > 1e6)
            {
                return double.NaN;
            }
        }

        return ((1 - x) * (1 - x)) + (100 * (y - (x * x)) * (y - (x * x)));
    }
}

/// <summary>Draws one line, redrawn in place: <c>[#####-----]  52% 100/192  41.3/s  ~2 s left</c>.</summary>
public sealed class ProgressBar(TextWriter output, int width)
{
    private readonly object _lock = new();
    private int _lastLength;

    public void Draw(MapProgress progress)
    {
        var fraction = progress.Fraction ?? 0;
        var filled = (int)Math.Round(fraction * width);
        var left = progress.EstimatedRemaining is { } eta ? $"~{eta.TotalSeconds:0} s left" : string.Empty;
        var failed = progress.Failed > 0 ? $" {progress.Failed} failed" : string.Empty;
        var line = $"[{new string('#', filled)}{new string('-', width - filled)}] {fraction,4:P0} {progress.Completed}/{progress.Total}{failed}  {progress.ItemsPerSecond:0.0}/s  {left}";
        lock (_lock)
        {
            // Carriage return without a new line redraws the same console line; pad over a longer previous one.
            output.Write("\r" + line.PadRight(_lastLength));
            _lastLength = line.Length;
        }
    }

    public void Finish()
    {
        lock (_lock)
        {
            output.WriteLine();
        }
    }
}

/// <summary>Calls the action on the reporting thread (Progress&lt;T&gt; would post to the thread pool, out of order).</summary>
public sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
