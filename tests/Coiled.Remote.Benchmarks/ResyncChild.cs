using System.Diagnostics;
using System.Globalization;

namespace Coiled.Remote.Benchmarks;

/// <summary>
/// The benchmark run again as a new process that connects to running workers: a re-run of an unchanged app, which
/// hashes its files anew (no process-wide hash cache to reuse) before the workers find they have them all.
/// </summary>
internal static class ResyncChild
{
    public const string Mode = "--resync-child";

    /// <summary>In the child: connects with the token to the workers and prints "resync MS BYTES CONNECT_MS".</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args)
    {
        var connecting = Stopwatch.StartNew();
        await using var cluster = await Cluster.ConnectAsync(args.Skip(2).Select(a => new Uri(a)), args[1]);
        connecting.Stop();
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"resync {cluster.LastSync.Elapsed.TotalMilliseconds:F1} {cluster.LastSync.BytesSent} {connecting.Elapsed.TotalMilliseconds:F1}"));
        return 0;
    }

    /// <summary>In the benchmark: runs one child against the workers and returns what it measured.</summary>
    public static async Task<(double SyncMs, long Bytes, double ConnectMs)> MeasureAsync(string token, IEnumerable<Uri> workers)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (!Environment.ProcessPath!.EndsWith(Path.DirectorySeparatorChar + "Coiled.Remote.Benchmarks", StringComparison.Ordinal))
        {
            // Started as `dotnet Coiled.Remote.Benchmarks.dll`: the child needs the same.
            start.ArgumentList.Add(typeof(ResyncChild).Assembly.Location);
        }

        foreach (var argument in new[] { Mode, token }.Concat(workers.Select(w => w.ToString())))
        {
            start.ArgumentList.Add(argument);
        }

        using var child = Process.Start(start)!;
        var output = child.StandardOutput.ReadToEndAsync();
        var error = child.StandardError.ReadToEndAsync();
        await child.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        var parts = (await output).Trim().Split(' ');
        if (child.ExitCode != 0 || parts.Length != 4 || parts[0] != "resync")
        {
            throw new InvalidOperationException($"The re-sync child exited with {child.ExitCode}: {await output} {await error}");
        }

        return (double.Parse(parts[1], CultureInfo.InvariantCulture), long.Parse(parts[2], CultureInfo.InvariantCulture), double.Parse(parts[3], CultureInfo.InvariantCulture));
    }
}
