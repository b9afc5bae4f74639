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
    public static double MiB(int pid) => Field($"/proc/{pid}/status", "VmRSS:");

    /// <summary>
    /// Proportional set size of a process in MiB, from /proc/&lt;pid&gt;/smaps_rollup (Pss): its private pages, and each
    /// page it shares with other processes (the runtime's and the app's code, mapped by every .NET process) divided by
    /// how many map it. Summed over processes, shared code counts once, where RSS counts it in each.
    /// </summary>
    public static double ProportionalMiB(int pid) => Field($"/proc/{pid}/smaps_rollup", "Pss:");

    /// <summary>The proportional set size of a process and of the processes it started, in MiB.</summary>
    public static double ProportionalWithChildrenMiB(int pid) => ProportionalMiB(pid) + Children(pid).Sum(c => OrZero(c, ProportionalMiB));

    private static double Field(string path, string name)
    {
        foreach (var line in File.ReadLines(path))
        {
            if (line.StartsWith(name, StringComparison.Ordinal))
            {
                var kb = long.Parse(line[name.Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
                return kb / 1024.0;
            }
        }

        throw new InvalidOperationException($"{path} has no {name} line.");
    }

    /// <summary>Resident set size of a process and of the processes it started (a worker daemon's executors), in MiB.</summary>
    public static double WithChildrenMiB(int pid) => MiB(pid) + Children(pid).Sum(c => OrZero(c, MiB));

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

    /// <summary>A process's figure; 0 for one that ended while it was read.</summary>
    private static double OrZero(int pid, Func<int, double> figure)
    {
        try
        {
            return figure(pid);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException)
        {
            return 0;
        }
    }
}
