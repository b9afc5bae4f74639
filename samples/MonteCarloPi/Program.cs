// MonteCarloPi: a CPU-bound [Remote] method run serially in this process, then on two worker processes, and the speedup.
using System.Diagnostics;
using System.Runtime.CompilerServices;
using Coiled.Remote;

const int Tasks = 2;
const long DartsPerTask = 120_000_000; // about 1.5 s per task on a 2-core development machine
int[] seeds = [.. Enumerable.Range(1, Tasks)];

Console.WriteLine($"Estimating pi from {Tasks} x {DartsPerTask:N0} darts ({Environment.ProcessorCount} processors).");

// Serial: the same method called directly, one seed after the other, in this process.
var clock = Stopwatch.StartNew();
long serialInside = 0;
foreach (var seed in seeds)
{
    serialInside += Darts.CountInside(seed, DartsPerTask);
}

var serial = clock.Elapsed;
Console.WriteLine($"serial, in this process:  pi ~ {Darts.Pi(serialInside, Tasks * DartsPerTask):F6}  in {serial.TotalSeconds:F2} s");

// Parallel: one task per seed on a 2-worker local cluster. Starting the cluster is timed separately.
clock.Restart();
await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2 });
var start = clock.Elapsed;

clock.Restart();
long[] inside = await cluster.MapAsync(Darts.CountInside, seeds.Select(seed => (seed, DartsPerTask)));
var parallel = clock.Elapsed;
long clusterInside = inside.Sum();
Console.WriteLine($"2 workers:                pi ~ {Darts.Pi(clusterInside, Tasks * DartsPerTask):F6}  in {parallel.TotalSeconds:F2} s (cluster start {start.TotalSeconds:F2} s, not included)");

if (clusterInside != serialInside)
{
    Console.Error.WriteLine($"The workers counted {clusterInside} darts inside, this process {serialInside}: the same seeds must give the same counts.");
    return 1;
}

Console.WriteLine($"speedup over a serial local run: {serial / parallel:F1}x (with the cluster start included: {serial / (start + parallel):F1}x)");
return 0;

/// <summary>Throwing darts at the unit square: the fraction inside the quarter circle approaches pi / 4.</summary>
public static class Darts
{
    /// <summary>Counts how many of <paramref name="darts"/> random points fall inside the unit quarter circle.</summary>
    /// <remarks>Deterministic for a seed: xorshift64* with its own state, no shared <see cref="Random"/>.</remarks>
    [Remote]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // the hot loop is compiled optimized at once, here and on the workers
    public static long CountInside(int seed, long darts)
    {
        // SplitMix64 turns a small seed into a well-mixed non-zero state.
        ulong state = (ulong)seed * 0x9E3779B97F4A7C15UL + 0x6A09E667F3BCC909UL;
        state = (state ^ (state >> 30)) * 0xBF58476D1CE4E5B9UL;
        state = (state ^ (state >> 27)) * 0x94D049BB133111EBUL;
        state ^= state >> 31;
        if (state == 0)
        {
            state = 1;
        }

        const double Scale = 1.0 / (1UL << 53);
        long inside = 0;
        for (long i = 0; i < darts; i++)
        {
            double x = (Next(ref state) >> 11) * Scale;
            double y = (Next(ref state) >> 11) * Scale;
            if (x * x + y * y <= 1.0)
            {
                inside++;
            }
        }

        return inside;
    }

    /// <summary>The estimate of pi from a count of darts inside the quarter circle.</summary>
    public static double Pi(long inside, long darts) => 4.0 * inside / darts;

    private static ulong Next(ref ulong state)
    {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        return state * 0x2545F4914F6CDD1DUL;
    }
}
