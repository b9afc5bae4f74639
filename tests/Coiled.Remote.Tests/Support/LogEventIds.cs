using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Tests.Support;

/// <summary>
/// Reads the event ids of an assembly's <see cref="LoggerMessageAttribute"/> methods (the attribute stays in metadata),
/// and finds direct <c>ILogger.LogX(...)</c> calls in source folders.
/// </summary>
internal static partial class LogEventIds
{
    /// <summary>Each area's log class (full name) and the event ids it owns, inclusive.</summary>
    public static readonly IReadOnlyDictionary<string, (int First, int Last)> Ranges = new Dictionary<string, (int, int)>(StringComparer.Ordinal)
    {
        ["Coiled.Remote.Worker.WorkerLog"] = (1000, 1099),
        ["Coiled.Remote.Worker.Executors.ExecutorLog"] = (1100, 1199),
        ["Coiled.Remote.Ec2.Ec2Log"] = (2000, 2999),
        ["Coiled.Remote.Synchronization.SynchronizationLog"] = (3000, 3099),
        ["Coiled.Remote.BackendLog"] = (3100, 3199),
        ["Coiled.Remote.Scheduling.SchedulerLog"] = (4000, 4099),
        ["Coiled.Remote.ClusterLog"] = (4100, 4149),
        ["Coiled.Remote.KeptClusters.KeptClusterLog"] = (4150, 4169),
        ["Coiled.Remote.Dashboard.DashboardLog"] = (4200, 4209),
        ["Coiled.Remote.Dashboard.DashboardServerLog"] = (4210, 4219),
    };

    /// <summary>One source-generated log method.</summary>
    public sealed record LogMethod(string Area, string Name, int EventId)
    {
        public override string ToString() => $"{Area}.{Name} (event id {EventId})";
    }

    /// <summary>The methods of <paramref name="assembly"/> that carry <see cref="LoggerMessageAttribute"/>.</summary>
    public static IReadOnlyList<LogMethod> Methods(Assembly assembly)
        => [.. from type in assembly.GetTypes()
               from method in type.GetMethods(BindingFlags.Static | BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly)
               let attribute = method.GetCustomAttribute<LoggerMessageAttribute>()
               where attribute is not null
               select new LogMethod(type.FullName!, method.Name, attribute.EventId)];

    /// <summary>Event ids that more than one method of <paramref name="methods"/> uses, with those methods.</summary>
    public static IReadOnlyList<string> Duplicates(IEnumerable<LogMethod> methods)
        => [.. methods.GroupBy(m => m.EventId).Where(g => g.Count() > 1).Select(g => $"{g.Key}: {string.Join(", ", g)}")];

    /// <summary>
    /// Methods whose id lies outside their own area's range, or, for classes without a range, inside another area's
    /// range; and methods without an explicit event id.
    /// </summary>
    public static IReadOnlyList<string> OutOfRange(IEnumerable<LogMethod> methods)
    {
        var wrong = new List<string>();
        foreach (var method in methods)
        {
            if (method.EventId <= 0)
            {
                wrong.Add($"{method} has no event id");
            }
            else if (Ranges.TryGetValue(method.Area, out var own))
            {
                if (method.EventId < own.First || method.EventId > own.Last)
                {
                    wrong.Add($"{method} is outside {own.First}-{own.Last}");
                }
            }
            else if (Ranges.FirstOrDefault(r => method.EventId >= r.Value.First && method.EventId <= r.Value.Last) is { Key: { } owner })
            {
                wrong.Add($"{method} uses an id of {owner}");
            }
        }

        return wrong;
    }

    /// <summary>The repository's root, found from this file's place in it.</summary>
    public static string RepositoryRoot([CallerFilePath] string here = "")
        => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", ".."));

    /// <summary>Lines of C# files under <paramref name="folder"/> (bin and obj left out) that call an ILogger's LogX method directly.</summary>
    public static IReadOnlyList<string> DirectCalls(string folder)
    {
        var found = new List<string>();
        foreach (var file in Directory.EnumerateFiles(folder, "*.cs", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(folder, file);
            if (relative.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj"))
            {
                continue;
            }

            found.AddRange(DirectCallLines(File.ReadAllText(file)).Select(line => $"{file}:{line}"));
        }

        return found;
    }

    /// <summary>The 1-based numbers of the lines of <paramref name="source"/> that call an ILogger's LogX method directly.</summary>
    public static IEnumerable<int> DirectCallLines(string source)
        => source.Split('\n').Select((line, i) => (line, i)).Where(l => DirectCall().IsMatch(l.line)).Select(l => l.i + 1);

    // logger.LogInformation(, _logger?.LogWarning (, logger.Log(LogLevel.Debug, ... ; not LoggerMessage methods or Log.X.
    [GeneratedRegex(@"\.Log(Trace|Debug|Information|Warning|Error|Critical)\s*\(|\.Log\s*\(\s*(Microsoft\.Extensions\.Logging\.)?LogLevel\.")]
    private static partial Regex DirectCall();
}
