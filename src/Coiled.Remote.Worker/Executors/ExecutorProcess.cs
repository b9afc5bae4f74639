using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Coiled.Remote.Processes;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Worker.Executors;

/// <summary>
/// The daemon's hold on one executor process: how to reach it, its private folder (its working directory and its
/// socket), how many client streams use it and since when none has, and how it ended.
/// </summary>
internal sealed class ExecutorProcess
{
    private const int KeptErrorLines = 20;
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(2);

    /// <summary>Waiting this long after the exit for the last lines of the process's error output (a crash message).</summary>
    private static readonly TimeSpan LastWordsWait = TimeSpan.FromSeconds(1);

    /// <summary>Files that are code, which the executor loads from the environment folder; every other file of the app is copied.</summary>
    private static readonly HashSet<string> CodeExtensions = new(StringComparer.OrdinalIgnoreCase) { ".dll", ".exe", ".pdb", ".so", ".dylib" };

    /// <summary>The beginnings of the lines .NET writes to standard error when it ends a process.</summary>
    private static readonly string[] CrashMarkers = ["Stack overflow", "Unhandled exception", "Out of memory", "Fatal error", "Process terminated"];

    private readonly Process _process;
    private readonly byte[] _secret;
    private readonly string _socketPath;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Queue<string> _errors = new();
    private readonly object _gate = new();
    private readonly Task _errorReader;
    private Task _outputReader = Task.CompletedTask;
    private int _streams;
    private long _idleSince;
    private long _gcPauseTicks;
    private bool _retired;
    private bool _served;

    private ExecutorProcess(Process process, string? environmentId, string folder, byte[] secret, TimeProvider time, ILogger logger)
    {
        _process = process;
        ProcessId = process.Id;
        EnvironmentId = environmentId;
        Folder = folder;
        _secret = secret;
        _socketPath = Path.Combine(folder, "link");
        _time = time;
        _logger = logger;
        _idleSince = time.GetTimestamp();
        _errorReader = Task.Run(ReadErrorsAsync);
        Exited = WatchExitAsync();
    }

    /// <summary>The environment the executor runs; null for a spare not bound yet.</summary>
    public string? EnvironmentId { get; private set; }

    /// <summary>The environment's id, shortened, for messages; "spare" for a spare.</summary>
    public string EnvironmentLabel => EnvironmentId?[..12] ?? "spare";

    private string WorkingDirectory => Path.Combine(Folder, "work");

    public int ProcessId { get; }

    /// <summary>The executor's private folder: its working directory (<c>work</c>) and its socket.</summary>
    public string Folder { get; }

    /// <summary>Completes with how the process ended, e.g. "exit code 137 (killed by SIGKILL ...)".</summary>
    public Task<string> Exited { get; }

    /// <summary>
    /// Starts an executor for one environment: a private folder with the app's files (not its code, which loads from the
    /// environment folder), the daemon's variables with the forwarded ones over them, and returns once it listens.
    /// Without an environment, starts a spare, which <see cref="TryBindAsync"/> later gives one.
    /// </summary>
    /// <exception cref="ExecutorStartException">The process could not be started, exited, or did not report ready in time.</exception>
    public static async Task<ExecutorProcess> StartAsync(
        ExecutorOptions options, ExecutorEnvironment? environment, string folder, int slots, TaskLimits limits, TimeProvider time, ILogger logger, CancellationToken cancellationToken)
    {
        var work = Path.Combine(folder, "work");
        BlobStore.CreatePrivateDirectory(folder);
        Directory.CreateDirectory(work);
        var start = StartInfo(options, environment, folder, slots, limits);

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new ExecutorStartException($"could not start {options.FileName}");
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            throw new ExecutorStartException($"could not start {options.FileName}: {ex.Message}", ex);
        }

        var secret = RandomNumberGenerator.GetBytes(ExecutorLink.SecretBytes);
        var executor = new ExecutorProcess(process, environment?.Id, folder, secret, time, logger);
        try
        {
            // The runtime starts meanwhile; the executor reads its secret before it listens, so the files are there first.
            if (environment is not null)
            {
                CopyAppFiles(environment.Directory, work);
            }

            await process.StandardInput.WriteLineAsync(Convert.ToHexStringLower(secret).AsMemory(), cancellationToken).ConfigureAwait(false);
            await process.StandardInput.FlushAsync(cancellationToken).ConfigureAwait(false);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.StartTimeout);
            string? line;
            try
            {
                line = await process.StandardOutput.ReadLineAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new ExecutorStartException($"it did not report ready within {options.StartTimeout.TotalSeconds:0} s");
            }

            if (line != ExecutorHost.ReadyLine)
            {
                var how = line is null ? await executor.Exited.ConfigureAwait(false) : $"it printed '{line}' instead of '{ExecutorHost.ReadyLine}'";
                throw new ExecutorStartException($"it ended before it was ready: {how}");
            }

            if (environment is not null)
            {
                executor._outputReader = Task.Run(executor.ForwardOutputAsync);
            }

            return executor;
        }
        catch (Exception ex)
        {
            await executor.StopAsync().ConfigureAwait(false);
            if (ex is ExecutorStartException or OperationCanceledException)
            {
                throw;
            }

            throw new ExecutorStartException(ex.Message, ex);
        }
    }

    /// <summary>How an executor process is started: its arguments, its working directory <c>work</c> in <paramref name="folder"/>, its variables, no window.</summary>
    internal static ProcessStartInfo StartInfo(ExecutorOptions options, ExecutorEnvironment? environment, string folder, int slots, TaskLimits limits)
    {
        var work = Path.Combine(folder, "work");
        var start = new ProcessStartInfo(options.FileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = work,

            // A daemon started without a console (by a WinForms or WPF caller) would otherwise open a window per executor.
            CreateNoWindow = true,
        };
        IEnumerable<string> what = environment is null ? [] :
            ["--environment", environment.Id, "--environment-dir", environment.Directory, "--entry-assembly", environment.EntryAssembly];
        foreach (var argument in options.Arguments.Concat([ExecutorHost.Mode]).Concat(what).Concat(
        [
            "--socket", Path.Combine(folder, "link"),
            "--slots", slots.ToString(CultureInfo.InvariantCulture),
            "--timeout-grace-ms", ((long)limits.TimeoutGrace.TotalMilliseconds).ToString(CultureInfo.InvariantCulture),
            "--max-result-bytes", limits.MaxResultBytes.ToString(CultureInfo.InvariantCulture),
        ]).Concat(options.Tls ? ["--tls", "true"] : []).Concat(options.StagedValueDirectory is { } values ? ["--staged-values", values] : []))
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment?.Variables ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        return start;
    }

    /// <summary>
    /// Gives a spare its environment: the app's files in its working directory, then the environment and the variables
    /// on its standard input; false when that fails (the files could not be copied, or it did not confirm), and it must
    /// not be used.
    /// </summary>
    public async Task<bool> TryBindAsync(ExecutorEnvironment environment, TimeSpan timeout, CancellationToken cancellationToken)
    {
        EnvironmentId = environment.Id;
        try
        {
            // Before the bind line: taking on its environment runs the app's module initializers, which may look for its files.
            CopyAppFiles(environment.Directory, WorkingDirectory);
            await _process.StandardInput.WriteLineAsync(ExecutorHost.BindLine(environment).AsMemory(), cancellationToken).ConfigureAwait(false);
            await _process.StandardInput.FlushAsync(cancellationToken).ConfigureAwait(false);
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            wait.CancelAfter(timeout);
            if (await _process.StandardOutput.ReadLineAsync(wait.Token).ConfigureAwait(false) != ExecutorHost.BoundLine)
            {
                return false;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            _logger.SpareNotBound(ProcessId, EnvironmentLabel, ex.Message);
            return false;
        }

        _outputReader = Task.Run(ForwardOutputAsync);
        return true;
    }

    /// <summary>Opens a connection to the executor for one client stream (a Unix socket: it connects at once or fails).</summary>
    public ExecutorLink Connect() => ExecutorLink.Connect(_socketPath, _secret);

    /// <summary>Client streams using the executor now.</summary>
    public int Streams
    {
        get
        {
            lock (_gate)
            {
                return _streams;
            }
        }
    }

    /// <summary>A client stream starts using the executor; false once it was retired (idle too long or ended).</summary>
    public bool TryAttach()
    {
        lock (_gate)
        {
            if (_retired || Exited.IsCompleted)
            {
                return false;
            }

            _streams++;
            _served = true;
            return true;
        }
    }

    /// <summary>
    /// Retires the executor if it has served a client stream and none uses it now: a build that another build
    /// supersedes. One that has not served yet is left alone, as its first client may be about to attach to it.
    /// </summary>
    public bool TryRetireIfSuperseded()
    {
        lock (_gate)
        {
            if (_served && _streams == 0 && !_retired)
            {
                _retired = true;
                return true;
            }

            return false;
        }
    }

    /// <summary>A client stream stopped using the executor.</summary>
    public void Detach()
    {
        lock (_gate)
        {
            if (--_streams == 0)
            {
                _idleSince = _time.GetTimestamp();
            }
        }
    }

    /// <summary>Retires the executor if no client stream has used it for <paramref name="idleTimeout"/>: no stream attaches after.</summary>
    public bool TryRetireIfIdle(TimeSpan idleTimeout)
    {
        lock (_gate)
        {
            if (_streams == 0 && !_retired && _time.GetElapsedTime(_idleSince) >= idleTimeout)
            {
                _retired = true;
            }

            return _retired;
        }
    }

    /// <summary>Retires the executor whatever it does.</summary>
    public void Retire()
    {
        lock (_gate)
        {
            _retired = true;
        }
    }

    /// <summary>
    /// The process's time paused for garbage collection, as it last reported it (<see cref="ReportedGcPause"/>); zero
    /// until it reports, which executors do while they serve a direct route.
    /// </summary>
    public TimeSpan GcPause => TimeSpan.FromTicks(Interlocked.Read(ref _gcPauseTicks));

    /// <summary>The process reported its time paused for garbage collection since it started.</summary>
    public void ReportedGcPause(double seconds)
    {
        if (double.IsFinite(seconds) && seconds >= 0 && seconds < TimeSpan.MaxValue.TotalSeconds)
        {
            Interlocked.Exchange(ref _gcPauseTicks, TimeSpan.FromSeconds(seconds).Ticks);
        }
    }

    /// <summary>Processor time and resident memory of the process now, with its reported GC pause time; zero once it exited.</summary>
    public (TimeSpan Cpu, long WorkingSet, TimeSpan GcPause) Usage()
    {
        try
        {
            _process.Refresh();
            return _process.HasExited ? default : (_process.TotalProcessorTime, _process.WorkingSet64, GcPause);
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return default;
        }
    }

    /// <summary>Ends the process: closes its standard input, which it takes as the order to exit, then kills it after a grace period; deletes its folder.</summary>
    public async Task StopAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.Close();
                using var grace = new CancellationTokenSource(StopGrace);
                try
                {
                    await _process.WaitForExitAsync(grace.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    _process.Kill(entireProcessTree: true);
                    await _process.WaitForExitAsync().ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or System.ComponentModel.Win32Exception)
        {
            // It is gone already.
        }

        await Exited.ConfigureAwait(false);

        // A process the task started may hold the output open after the executor ended.
        await Task.WhenAny(_outputReader, Task.Delay(LastWordsWait)).ConfigureAwait(false);
        DeleteFolder();
        _process.Dispose();
    }

    /// <summary>Copies every file of the app that is not code into the working directory, so that relative paths find them and writes stay private.</summary>
    private static void CopyAppFiles(string environmentDirectory, string work)
    {
        foreach (var source in Directory.EnumerateFiles(environmentDirectory, "*", SearchOption.AllDirectories))
        {
            if (CodeExtensions.Contains(Path.GetExtension(source)))
            {
                continue;
            }

            var target = Path.Combine(work, Path.GetRelativePath(environmentDirectory, source));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);

            // A copy, not a link: a task that writes to a file of its app changes its own copy, never the shared cache.
            // The cache's files are read-only; the copy is the executor's to write, and keeps an executable bit.
            File.Copy(source, target, overwrite: true);
            if (OperatingSystem.IsWindows())
            {
                // Windows copies the cached file's read-only attribute with it.
                File.SetAttributes(target, File.GetAttributes(target) & ~FileAttributes.ReadOnly);
            }
            else
            {
                File.SetUnixFileMode(target, File.GetUnixFileMode(target) | UnixFileMode.UserWrite);
            }
        }
    }

    private async Task<string> WatchExitAsync()
    {
        await _process.WaitForExitAsync().ConfigureAwait(false);
        await Task.WhenAny(_errorReader, Task.Delay(LastWordsWait)).ConfigureAwait(false);
        var how = ProcessExit.Describe(_process.ExitCode, "executor");
        string? crash;
        lock (_errors)
        {
            crash = _errors.FirstOrDefault(line => CrashMarkers.Any(marker => line.TrimStart().StartsWith(marker, StringComparison.Ordinal)));
        }

        return crash is null ? how : $"{how}; it wrote \"{crash.Trim()}\"";
    }

    /// <summary>Passes the executor's error output on as the daemon's own, keeping its last lines to say how it ended.</summary>
    private async Task ReadErrorsAsync()
    {
        try
        {
            while (await _process.StandardError.ReadLineAsync().ConfigureAwait(false) is { } line)
            {
                lock (_errors)
                {
                    _errors.Enqueue(line);
                    if (_errors.Count > KeptErrorLines)
                    {
                        _errors.Dequeue();
                    }
                }

                await Console.Error.WriteLineAsync(line).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The pipe broke with the process.
        }
    }

    /// <summary>Passes what the executor's tasks print on as the daemon's own output.</summary>
    private async Task ForwardOutputAsync()
    {
        try
        {
            while (await _process.StandardOutput.ReadLineAsync().ConfigureAwait(false) is { } line)
            {
                await Console.Out.WriteLineAsync(line).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The pipe broke with the process.
        }
    }

    private void DeleteFolder()
    {
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _logger.EndedExecutorFolderNotDeleted(Folder, ex.Message);
        }
    }
}
