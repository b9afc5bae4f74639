namespace Coiled.Remote.Benchmarks;

internal static class Stats
{
    public static double Median(IReadOnlyCollection<double> values) => Percentile(values, 50);

    /// <summary>Nearest-rank percentile.</summary>
    public static double Percentile(IReadOnlyCollection<double> values, double percent)
    {
        if (values.Count == 0)
        {
            throw new ArgumentException("No values.", nameof(values));
        }

        var sorted = values.Order().ToArray();
        if (percent == 50 && sorted.Length % 2 == 0)
        {
            return (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
        }

        var rank = (int)Math.Ceiling(percent / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}

internal static class Rss
{
    /// <summary>Resident set size of a process in MiB, from /proc/&lt;pid&gt;/status (VmRSS).</summary>
    public static double MiB(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                var kb = long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
                return kb / 1024.0;
            }
        }

        throw new InvalidOperationException($"/proc/{pid}/status has no VmRSS line.");
    }

    /// <summary>Resident set size of a process and of the processes it started (a worker daemon's executors), in MiB.</summary>
    public static double WithChildrenMiB(int pid) => MiB(pid) + Children(pid).Sum(OrZero);

    /// <summary>The processes a process started and that still run (Linux: /proc/PID/task/TID/children).</summary>
    public static List<int> Children(int pid)
    {
        var children = new List<int>();
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            try
            {
                children.AddRange(File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse));
            }
            catch (IOException)
            {
                // The thread ended meanwhile.
            }
        }

        return children;
    }

    /// <summary>A process's RSS; 0 for one that ended while it was read.</summary>
    private static double OrZero(int pid)
    {
        try
        {
            return MiB(pid);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException)
        {
            return 0;
        }
    }
}
