using System.Reflection;

namespace Coiled.Remote.Worker.Executors;

/// <summary>How the worker daemon starts and ends its executor processes.</summary>
internal sealed record ExecutorOptions
{
    /// <summary>The default of <see cref="IdleTimeout"/>.</summary>
    internal static readonly TimeSpan DefaultIdleTimeout = TimeSpan.FromSeconds(60);

    /// <summary>The default of <see cref="SpareTimeout"/>.</summary>
    internal static readonly TimeSpan DefaultSpareTimeout = TimeSpan.FromMinutes(10);

    /// <summary>The default of <see cref="SpareReplaceDelay"/>.</summary>
    internal static readonly TimeSpan DefaultSpareReplaceDelay = TimeSpan.FromMilliseconds(250);

    /// <summary>The default of <see cref="SupersededGrace"/>.</summary>
    internal static readonly TimeSpan DefaultSupersededGrace = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long after a spare was taken its replacement (<see cref="SpareTimeout"/>) waits to start (default 250 ms): the
    /// build that took it opens its first route and runs its first task meanwhile (tens of milliseconds), and a runtime
    /// starting beside them would take the processor they need. Short, so that the replacement is ready for the next
    /// build of a fast loop; a client that plans a new build before then starts it at once.
    /// </summary>
    public TimeSpan SpareReplaceDelay { get; init; } = DefaultSpareReplaceDelay;

    /// <summary>
    /// How long after a new build's executor is ready the executors of the builds it supersedes end (default 2 s): ending
    /// a process takes processor time that the new build's first route and task need more.
    /// </summary>
    public TimeSpan SupersededGrace { get; init; } = DefaultSupersededGrace;

    /// <summary>The program that runs an executor: the worker's own, or the <c>dotnet</c> host with <see cref="Arguments"/> naming it.</summary>
    public required string FileName { get; init; }

    /// <summary>Arguments before the executor's own (the worker's entry assembly when <see cref="FileName"/> is the <c>dotnet</c> host).</summary>
    public IReadOnlyList<string> Arguments { get; init; } = [];

    /// <summary>An executor without a connected client for this long is ended; the next client of its environment starts another.</summary>
    public TimeSpan IdleTimeout { get; init; } = DefaultIdleTimeout;

    /// <summary>
    /// Keep one spare executor started, ready to take the next new environment in milliseconds (default true); without it
    /// each new environment waits for a process to start.
    /// </summary>
    public bool KeepSpare { get; init; } = true;

    /// <summary>
    /// The window of an edit-and-run loop: a second new environment within this time of the one before starts a spare as
    /// soon as one is taken; a spare that no client takes ends after this time (default 10 minutes). Longer than
    /// <see cref="IdleTimeout"/>, since a developer edits for minutes between runs.
    /// </summary>
    public TimeSpan SpareTimeout { get; init; } = DefaultSpareTimeout;

    /// <summary>
    /// Hand each client's task stream to its executor as a connection of its own (direct routes, where the machine can
    /// pass a socket between processes: Linux) instead of relaying it through the daemon (default true).
    /// </summary>
    public bool DirectRoutes { get; init; } = true;

    /// <summary>
    /// Whether the daemon's clients speak TLS, so that a spare executor warms TLS up too before its first direct route
    /// (default false).
    /// </summary>
    public bool Tls { get; init; }

    /// <summary>The worker's folder of staged shared values (<see cref="StagedValueFolder"/>), where executors read them; null for none.</summary>
    public string? StagedValueDirectory { get; init; }

    /// <summary>An executor that has not reported ready within this time is killed, and the client's stream fails.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Executors run by this very program (the worker daemon): its own executable, or the <c>dotnet</c> host and its entry assembly.</summary>
    public static ExecutorOptions ForThisProgram(TimeSpan idleTimeout)
    {
        var process = Environment.ProcessPath ?? throw new InvalidOperationException("The worker cannot tell which program it runs in (no Environment.ProcessPath), so it cannot start executors.");
        var host = Path.GetFileNameWithoutExtension(process) == "dotnet";
        var entry = Assembly.GetEntryAssembly()?.Location;
        if (host && string.IsNullOrEmpty(entry))
        {
            throw new InvalidOperationException("The worker runs under the dotnet host but its entry assembly has no path, so it cannot start executors.");
        }

        return new ExecutorOptions { FileName = process, Arguments = host ? [entry!] : [], IdleTimeout = idleTimeout };
    }
}
