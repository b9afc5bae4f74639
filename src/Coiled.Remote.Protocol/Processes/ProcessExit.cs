namespace Coiled.Remote.Processes;

/// <summary>What a worker or executor process's exit code says about how it ended.</summary>
internal static class ProcessExit
{
    /// <summary>Exit code of an executor that recycled itself after a task overran its timeout.</summary>
    public const int RecycleExitCode = 86;

    /// <summary>"exit code 137 (killed by SIGKILL ...)" and the like, for a process called <paramref name="what"/> ("worker", "executor").</summary>
    public static string Describe(int exitCode, string what)
    {
        if (exitCode > 128 && exitCode < 160 && !OperatingSystem.IsWindows())
        {
            var signal = exitCode - 128;
            var name = signal switch
            {
                6 => "SIGABRT, which is also how .NET ends a process whose stack overflowed",
                9 => "SIGKILL (for example the out-of-memory killer or a kill -9)",
                11 => "SIGSEGV",
                15 => "SIGTERM",
                _ => "signal " + signal,
            };
            return $"exit code {exitCode} (killed by {name})";
        }

        return exitCode switch
        {
            0 => $"exit code 0 (the {what} stopped normally)",
            RecycleExitCode when what == "executor" => $"exit code {exitCode} (the executor recycled itself after a task overran its timeout)",
            _ => $"exit code {exitCode} (the {what} process exited by itself: Environment.Exit, an unhandled exception or a crash in native code)",
        };
    }
}
