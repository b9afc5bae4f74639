using System.Runtime.CompilerServices;
using Coiled.Remote;

namespace Coiled.Remote.Benchmarks;

/// <summary>The [Remote] methods the benchmarks run.</summary>
public static class Jobs
{
    /// <summary>Does nothing: what is measured is the cluster's overhead per task.</summary>
    [Remote]
    public static int Noop(int x) => x;

    /// <summary>Receives a payload and answers its length: what is measured is moving the bytes.</summary>
    [Remote]
    public static int Length(byte[] data) => data.Length;

    /// <summary>Counts how many of <paramref name="darts"/> random points fall inside the unit quarter circle (deterministic per seed).</summary>
    [Remote]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // the hot loop is compiled optimized at once, here and on the workers
    public static long CountInside(int seed, long darts)
    {
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

    private static ulong Next(ref ulong state)
    {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        return state * 0x2545F4914F6CDD1DUL;
    }
}
