// WordCount: map/reduce over text files that ship with the application: each worker counts one file's words, the caller adds the counts up.
using Coiled.Remote;

// The files are copied to the output folder on build, and from there to every worker by environment
// synchronization. Workers run in their copy of that folder; running here in the output folder too makes a
// relative path mean the same file on both sides.
Environment.CurrentDirectory = AppContext.BaseDirectory;
var files = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "texts"), "*.txt")
    .Select(path => Path.GetRelativePath(AppContext.BaseDirectory, path))
    .Order(StringComparer.Ordinal)
    .ToList();

await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 2 });

// Map: one task per file. Reduce: add the per-file counts up here.
Dictionary<string, int>[] perFile = await cluster.MapAsync(Words.CountInFile, files);
var totals = new Dictionary<string, int>(StringComparer.Ordinal);
foreach (var counts in perFile)
{
    foreach (var (word, count) in counts)
    {
        totals[word] = totals.GetValueOrDefault(word) + count;
    }
}

for (var i = 0; i < files.Count; i++)
{
    Console.WriteLine($"{files[i],-32} {perFile[i].Values.Sum(),6} words, {perFile[i].Count,5} distinct");
}

Console.WriteLine();
Console.WriteLine($"{totals.Values.Sum()} words in {files.Count} files, {totals.Count} distinct. Most frequent:");
foreach (var (word, count) in totals.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Take(10))
{
    Console.WriteLine($"  {word,-12} {count,5}");
}

var summary = cluster.Summary;
Console.WriteLine();
Console.WriteLine($"{summary.TasksRun} tasks on {cluster.Workers.Count} workers; {summary.ArgumentBytes + summary.ResultBytes:N0} bytes of arguments and results.");

// Cross-check the reduce against a local count of the same files.
var local = files.Sum(f => Words.CountInFile(f).Values.Sum());
return local == totals.Values.Sum() ? 0 : 1;

/// <summary>The map step.</summary>
public static class Words
{
    private static readonly char[] Separators = [.. Enumerable.Range(0, 128).Select(c => (char)c).Where(c => !char.IsLetter(c) && c != '\'')];

    /// <summary>Counts the words of one file, read from a path relative to the application folder.</summary>
    [Remote]
    public static Dictionary<string, int> CountInFile(string relativePath)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var word in File.ReadAllText(relativePath).Split(Separators, StringSplitOptions.RemoveEmptyEntries))
        {
            var key = word.Trim('\'').ToLowerInvariant();
            if (key.Length > 0)
            {
                counts[key] = counts.GetValueOrDefault(key) + 1;
            }
        }

        return counts;
    }
}
