using System.Globalization;

namespace Coiled.Remote.Worker.Executors;

/// <summary>
/// The command line of an executor process, which only the worker daemon writes:
/// <c>--executor [--environment ID --environment-dir DIR --entry-assembly NAME] --socket PATH --slots N --timeout-grace-ms MS --max-result-bytes N [--tls true] [--staged-values DIR]</c>.
/// Without an environment, the executor is a spare, started ahead of need, which learns its environment on standard
/// input (see <see cref="ExecutorHost"/>). Its secret comes on the first line of standard input, never on the command
/// line, which other users can read. <c>--tls true</c> says that the daemon's clients speak TLS, which a spare then
/// warms up. <c>--staged-values</c> names the folder of shared values the worker fetched from the cluster's staging
/// storage, which the executor reads them from.
/// </summary>
internal sealed record ExecutorCommandLine(string? EnvironmentId, string? EnvironmentDirectory, string EntryAssembly, string SocketPath, int Slots, TaskLimits Limits, bool Tls = false, string? StagedValueDirectory = null)
{
    /// <exception cref="ArgumentException">An option is missing, unknown or malformed.</exception>
    public static ExecutorCommandLine Parse(IReadOnlyList<string> args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            if (args[i] is not ("--environment" or "--environment-dir" or "--entry-assembly" or "--socket" or "--slots" or "--timeout-grace-ms" or "--max-result-bytes" or "--tls" or "--staged-values") || i + 1 >= args.Count)
            {
                throw new ArgumentException($"Unknown executor option or missing value: '{args[i]}'.");
            }

            values[args[i]] = args[++i];
        }

        string Required(string name) => values.TryGetValue(name, out var value) ? value : throw new ArgumentException($"The executor needs {name}.");
        int Number(string name, int least = 1) => int.TryParse(Required(name), NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= least
            ? value
            : throw new ArgumentException($"{name} takes a whole number of at least {least}, not '{values[name]}'.");

        values.TryGetValue("--environment", out var environment);
        values.TryGetValue("--environment-dir", out var directory);
        if (environment is null != directory is null)
        {
            throw new ArgumentException("--environment and --environment-dir go together (or neither, for a spare executor).");
        }

        return new ExecutorCommandLine(
            environment,
            directory,
            values.GetValueOrDefault("--entry-assembly", string.Empty),
            Required("--socket"),
            Number("--slots"),
            new TaskLimits(TimeSpan.FromMilliseconds(Number("--timeout-grace-ms", least: 0)), Number("--max-result-bytes"), CollectAfterLargeTasks: true),
            values.GetValueOrDefault("--tls", "false") switch
            {
                "true" => true,
                "false" => false,
                var other => throw new ArgumentException($"--tls takes true or false, not '{other}'."),
            },
            values.GetValueOrDefault("--staged-values"));
    }
}
