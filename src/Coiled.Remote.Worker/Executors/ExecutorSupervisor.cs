using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Worker.Executors;

/// <summary>
/// The worker daemon's executor processes, one per environment and set of forwarded variables: started when a client
/// stream first needs one, shared by the streams that need the same, ended after <see cref="ExecutorOptions.IdleTimeout"/>
/// without a stream, and all ended with the daemon. An executor that dies is forgotten, and the next stream starts
/// another from the same cached files. Like Ray's prestarted workers, a spare executor starts, its runtime with it,
/// when a client plans the sync of a build that no executor runs, and takes that environment when the client opens it:
/// binding it costs milliseconds where starting a process costs a tenth of a second, and the upload hides the start.
/// While builds change (a second new environment within the idle timeout of the one before: an edit-and-run loop), a
/// spare also starts as soon as one is taken, so that the next build finds it ready. A spare that no client takes ends
/// after the idle timeout, so that a daemon keeps no process it does not use.
/// </summary>
internal sealed class ExecutorSupervisor : IAsyncDisposable
{
    /// <summary>A Unix socket's path must fit in 108 bytes, with its terminating NUL.</summary>
    private const int MaxSocketPathBytes = 100;

    /// <summary>
    /// Variables that a started runtime or loader has already read, or that a spare's warm-up has (the trusted
    /// certificates its TLS handshake loaded): an environment forwarding one of these gets an executor started with it,
    /// never a spare.
    /// </summary>
    private static readonly string[] StartupVariablePrefixes = ["DOTNET_", "COMPlus_", "CORECLR_", "LD_", "MALLOC_", "SSL_CERT_", "OPENSSL_"];

    /// <summary>How the executors' folder of a daemon whose cache is too deep for socket paths is named in the temporary folder, before its process id.</summary>
    private const string TemporaryPrefix = "coiled-remote-executors-";

    private readonly ExecutorOptions _options;
    private readonly int _slots;
    private readonly TaskLimits _limits;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lazy<string> _root;
    private readonly object _gate = new();
    private readonly Dictionary<string, Task<ExecutorProcess>> _executors = new(StringComparer.Ordinal);
    private readonly Dictionary<ExecutorProcess, TimeSpan> _lastCpu = [];
    private readonly List<Task> _stopping = [];
    private readonly CancellationTokenSource _lifetime = new();
    private readonly ITimer _sweeper;
    private Task<ExecutorProcess>? _spare;
    private long _spareSince;
    private long _lastNewExecutor;
    private TimeSpan _endedCpu;
    private int _next;
    private bool _disposed;

    /// <param name="options">How to start executors and when to end idle ones.</param>
    /// <param name="cacheDirectory">The worker's cache: executors' private folders go under <c>executors/</c> in it.</param>
    /// <param name="slots">Tasks each client stream runs at once.</param>
    /// <param name="limits">Timeout grace and result size limit of the executors' tasks.</param>
    /// <param name="time">The clock of the idle timeout.</param>
    /// <param name="logger">Where executors' starts and ends are told.</param>
    public ExecutorSupervisor(ExecutorOptions options, string cacheDirectory, int slots, TaskLimits limits, TimeProvider time, ILogger logger)
    {
        _options = options;
        _slots = slots;
        _limits = limits with { CollectAfterLargeTasks = true };
        _time = time;
        _logger = logger;
        var parent = Path.Combine(cacheDirectory, "executors");
        Directory.CreateDirectory(parent);
        DeleteLeftovers(parent, string.Empty, logger);
        DeleteLeftovers(Path.GetTempPath(), TemporaryPrefix, logger);
        _root = new Lazy<string>(() => CreateRoot(parent));
        var period = TimeSpan.FromTicks(Math.Clamp(options.IdleTimeout.Ticks / 4, TimeSpan.TicksPerMillisecond * 10, TimeSpan.TicksPerSecond));
        _sweeper = time.CreateTimer(static state => ((ExecutorSupervisor)state!).EndIdle(), this, period, period);
    }

    /// <summary>Executors running or starting now.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _executors.Count;
            }
        }
    }

    /// <summary>The spare's process id once it started; null when there is none or it is still starting.</summary>
    public int? SpareProcessId
    {
        get
        {
            lock (_gate)
            {
                return _spare is { IsCompletedSuccessfully: true } spare ? spare.Result.ProcessId : null;
            }
        }
    }

    /// <summary>Client streams connected to an executor now.</summary>
    public int Streams
    {
        get
        {
            lock (_gate)
            {
                return _executors.Values.Where(t => t.IsCompletedSuccessfully).Sum(t => t.Result.Streams);
            }
        }
    }

    /// <summary>
    /// Starts the spare executor for a client about to open <paramref name="environmentId"/>, if the options keep one,
    /// none runs or starts, and no executor runs that environment already.
    /// </summary>
    public void PrepareSpare(string environmentId)
    {
        lock (_gate)
        {
            if (_options.KeepSpare && _spare is null && !_disposed && !_executors.Keys.Any(key => key.StartsWith(environmentId, StringComparison.Ordinal)))
            {
                _spareSince = _time.GetTimestamp();
                _spare = StartSpareAsync();
            }
        }
    }

    /// <summary>
    /// Connects a client stream to the executor of an environment and set of variables, starting one (or binding the
    /// spare) if none runs.
    /// </summary>
    /// <exception cref="ExecutorStartException">No executor could be started, or none could be reached.</exception>
    public async Task<ExecutorLease> OpenAsync(ExecutorEnvironment environment, CancellationToken cancellationToken)
    {
        var key = KeyOf(environment.Id, environment.Variables);
        for (var attempt = 1; ; attempt++)
        {
            Task<ExecutorProcess> starting;
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (!_executors.TryGetValue(key, out starting!))
                {
                    starting = StartAsync(key, environment);
                    _executors[key] = starting;
                }
            }

            ExecutorProcess executor;
            try
            {
                executor = await starting.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                Forget(key, starting);
                throw ex as ExecutorStartException ?? new ExecutorStartException(ex.Message, ex);
            }

            if (!executor.TryAttach())
            {
                // It ended, or was retired for idleness, since it was looked up: start another.
                Forget(key, starting);
                continue;
            }

            try
            {
                return new ExecutorLease(executor, executor.Connect());
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or IOException)
            {
                // An executor that cannot be reached is of no use to anyone: it ends, and the next attempt starts another.
                executor.Detach();
                executor.Retire();
                Forget(key, starting);
                Track(executor.StopAsync());
                if (attempt >= 2)
                {
                    throw new ExecutorStartException($"the executor of environment {environment.ShortId} (process {executor.ProcessId}) refused its connection: {ex.Message}", ex);
                }
            }
        }
    }

    /// <summary>Processor time and resident memory of every executor, the processor time of ended ones included.</summary>
    public (TimeSpan Cpu, long WorkingSet) Usage()
    {
        List<ExecutorProcess> running;
        lock (_gate)
        {
            running = [.. _executors.Values.Append(_spare).Where(t => t?.IsCompletedSuccessfully == true).Select(t => t!.Result)];
        }

        var cpu = TimeSpan.Zero;
        long workingSet = 0;
        lock (_lastCpu)
        {
            foreach (var executor in running)
            {
                var (used, resident) = executor.Usage();
                if (used > TimeSpan.Zero)
                {
                    _lastCpu[executor] = used;
                }

                workingSet += resident;
            }

            foreach (var gone in _lastCpu.Keys.Where(e => !running.Contains(e)).ToList())
            {
                _endedCpu += _lastCpu[gone];
                _lastCpu.Remove(gone);
            }

            cpu = _endedCpu + _lastCpu.Values.Aggregate(TimeSpan.Zero, (sum, used) => sum + used);
        }

        return (cpu, workingSet);
    }

    public async ValueTask DisposeAsync()
    {
        List<Task<ExecutorProcess>> executors;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            executors = [.. _executors.Values];
            if (_spare is not null)
            {
                executors.Add(_spare);
                _spare = null;
            }

            _executors.Clear();
        }

        _sweeper.Dispose();
        _lifetime.Cancel();
        foreach (var starting in executors)
        {
            try
            {
                var executor = await starting.ConfigureAwait(false);
                executor.Retire();
                Track(executor.StopAsync());
            }
            catch (Exception)
            {
                // It never started; its start cleaned up after itself.
            }
        }

        Task[] stopping;
        lock (_stopping)
        {
            stopping = [.. _stopping];
        }

        await Task.WhenAll(stopping).ConfigureAwait(false);
        if (_root.IsValueCreated)
        {
            try
            {
                Directory.Delete(_root.Value, recursive: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                _logger.ExecutorsFolderNotDeleted(_root.Value, ex.Message);
            }
        }

        _lifetime.Dispose();
    }

    /// <summary>Creates a folder only its owner may enter (0700), where the platform has such modes.</summary>
    internal static void CreatePrivateDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
        }
        else
        {
            Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    private async Task<ExecutorProcess> StartAsync(string key, ExecutorEnvironment environment)
    {
        // Not on the caller's thread: copying the app's files and starting the process must not hold the lock's caller.
        await Task.Yield();
        var started = _time.GetTimestamp();
        ExecutorProcess? executor = null;
        if (TakeSpare(environment.Variables) is { } spare)
        {
            try
            {
                var candidate = await spare.ConfigureAwait(false);
                try
                {
                    executor = await candidate.TryBindAsync(environment, _options.StartTimeout, _lifetime.Token).ConfigureAwait(false) ? candidate : null;
                }
                finally
                {
                    if (executor is null)
                    {
                        // Not bound, whatever the reason: it ends here, since nothing else knows of it any more.
                        Track(candidate.StopAsync());
                    }
                }
            }
            catch (ExecutorStartException ex)
            {
                _logger.SpareFailedToStart(ex.Message, environment.ShortId);
            }
        }

        var how = executor is null ? "started" : "bound from the spare";
        executor ??= await ExecutorProcess.StartAsync(_options, environment, NextFolder(), _slots, _limits, _time, _logger, _lifetime.Token).ConfigureAwait(false);
        _logger.ExecutorReady(executor.ProcessId, environment.ShortId, how, _time.GetElapsedTime(started).TotalMilliseconds);
        _ = executor.Exited.ContinueWith(exited => OnExited(key, executor, exited.Result), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        ReplaceSpareWhileBuildsChange();
        return executor;
    }

    /// <summary>After an executor started for a new environment: starts a spare when the one before also came within the idle timeout.</summary>
    private void ReplaceSpareWhileBuildsChange()
    {
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            var changing = _lastNewExecutor != 0 && _time.GetElapsedTime(_lastNewExecutor, now) < _options.IdleTimeout;
            _lastNewExecutor = now;
            if (changing && _options.KeepSpare && _spare is null && !_disposed)
            {
                _spareSince = now;
                _spare = StartSpareAsync();
            }
        }
    }

    /// <summary>The spare, for an environment whose variables a started runtime can still take on; null when there is none to take.</summary>
    private Task<ExecutorProcess>? TakeSpare(IReadOnlyDictionary<string, string> variables)
    {
        if (variables.Keys.Any(name => StartupVariablePrefixes.Any(prefix => name.StartsWith(prefix, StringComparison.Ordinal))))
        {
            return null;
        }

        lock (_gate)
        {
            var spare = _spare;
            _spare = null;
            return spare is { IsFaulted: false, IsCanceled: false } && !(spare.IsCompletedSuccessfully && spare.Result.Exited.IsCompleted) ? spare : null;
        }
    }

    private async Task<ExecutorProcess> StartSpareAsync()
    {
        await Task.Yield();
        var spare = await ExecutorProcess.StartAsync(_options, environment: null, NextFolder(), _slots, _limits, _time, _logger, _lifetime.Token).ConfigureAwait(false);
        _ = spare.Exited.ContinueWith(_ => OnSpareExited(spare), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return spare;
    }

    /// <summary>The spare ended before it was bound (killed, or out of memory): forgotten; the next new environment starts another.</summary>
    private void OnSpareExited(ExecutorProcess spare)
    {
        bool wasSpare;
        lock (_gate)
        {
            wasSpare = _spare is { IsCompletedSuccessfully: true } current && current.Result == spare;
            if (wasSpare)
            {
                _spare = null;
            }
        }

        if (wasSpare)
        {
            Track(spare.StopAsync());
        }
    }

    private string NextFolder() => Path.Combine(_root.Value, Interlocked.Increment(ref _next).ToString(CultureInfo.InvariantCulture));

    /// <summary>
    /// The daemon's executors' folder, made when the first executor starts (a daemon that never starts one leaves
    /// nothing): under the cache, or, when the cache is too deep for socket paths, a private temporary folder.
    /// </summary>
    private static string CreateRoot(string parent)
    {
        var root = Path.Combine(parent, $"{Environment.ProcessId}-{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4))}");
        if (Encoding.UTF8.GetByteCount(Path.Combine(root, "999999", "link")) > MaxSocketPathBytes)
        {
            return Directory.CreateTempSubdirectory($"{TemporaryPrefix}{Environment.ProcessId}-").FullName;
        }

        CreatePrivateDirectory(root);
        return root;
    }

    private void OnExited(string key, ExecutorProcess executor, string how)
    {
        bool known;
        lock (_gate)
        {
            known = _executors.TryGetValue(key, out var current) && current.IsCompletedSuccessfully && current.Result == executor;
            if (known)
            {
                _executors.Remove(key);
            }
        }

        if (known)
        {
            // An executor the daemon did not end: the streams that used it say so to their clients.
            _logger.ExecutorEnded(executor.ProcessId, executor.EnvironmentLabel, how);
            Track(executor.StopAsync());
        }
    }

    /// <summary>Ends the executors that had no client stream for the idle timeout, and a spare that no client took in that time.</summary>
    private void EndIdle()
    {
        List<ExecutorProcess>? idle = null;
        lock (_gate)
        {
            if (_spare is { IsCompletedSuccessfully: true } spare && _time.GetElapsedTime(_spareSince) >= _options.IdleTimeout)
            {
                _spare = null;
                spare.Result.Retire();
                (idle ??= []).Add(spare.Result);
            }

            foreach (var (key, starting) in _executors.ToList())
            {
                if (starting.IsCompletedSuccessfully && starting.Result.TryRetireIfIdle(_options.IdleTimeout))
                {
                    _executors.Remove(key);
                    (idle ??= []).Add(starting.Result);
                }
            }
        }

        foreach (var executor in idle ?? [])
        {
            _logger.ExecutorIdle(executor.ProcessId, executor.EnvironmentLabel, _options.IdleTimeout.TotalSeconds);
            Track(executor.StopAsync());
        }
    }

    private void Forget(string key, Task<ExecutorProcess> starting)
    {
        lock (_gate)
        {
            if (_executors.TryGetValue(key, out var current) && current == starting)
            {
                _executors.Remove(key);
            }
        }
    }

    private void Track(Task stopping)
    {
        lock (_stopping)
        {
            _stopping.RemoveAll(t => t.IsCompleted);
            _stopping.Add(stopping);
        }
    }

    /// <summary>The environment and the variables, unambiguously: names and values cannot hold NUL.</summary>
    private static string KeyOf(string environmentId, IReadOnlyDictionary<string, string> variables)
    {
        var key = new StringBuilder(environmentId);
        foreach (var (name, value) in variables.OrderBy(v => v.Key, StringComparer.Ordinal))
        {
            key.Append('\0').Append(name).Append('=').Append(value.Replace("\0", string.Empty, StringComparison.Ordinal));
        }

        return key.ToString();
    }

    /// <summary>
    /// Deletes the executor folders (named <paramref name="prefix"/>, a process id, a dash) of daemons that are gone, killed
    /// before they could clean up.
    /// </summary>
    private static void DeleteLeftovers(string parent, string prefix, ILogger logger)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        foreach (var folder in Directory.EnumerateDirectories(parent, prefix + "*"))
        {
            var name = Path.GetFileName(folder)[prefix.Length..];
            var dash = name.IndexOf('-', StringComparison.Ordinal);
            if (dash > 0 && int.TryParse(name.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && !Directory.Exists($"/proc/{pid}"))
            {
                try
                {
                    Directory.Delete(folder, recursive: true);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    logger.LeftoverFolderNotDeleted(folder, ex.Message);
                }
            }
        }
    }
}
