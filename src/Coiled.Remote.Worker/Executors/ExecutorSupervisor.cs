using System.Text;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Worker.Executors;

/// <summary>
/// The worker daemon's executor processes, one per environment and set of forwarded variables: started when a client
/// stream first needs one (or bound from the <see cref="SpareExecutor"/>, which it keeps), shared by the streams that
/// need the same, ended after <see cref="ExecutorOptions.IdleTimeout"/> without a stream, and all ended with the daemon.
/// An executor that dies is forgotten, and the next stream starts another from the same cached files. Each executor has
/// a private folder in the daemon's <see cref="ExecutorFolders"/>. A new build of an application ends, at once, the
/// executors of its earlier builds that no stream uses: in an edit–run loop, builds do not pile up for the idle timeout.
/// </summary>
internal sealed class ExecutorSupervisor : IAsyncDisposable
{
    private readonly ExecutorOptions _options;
    private readonly int _slots;
    private readonly TaskLimits _limits;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ExecutorFolders _folders;
    private readonly object _gate = new();
    private readonly Dictionary<string, Task<ExecutorProcess>> _executors = new(StringComparer.Ordinal);
    private readonly Dictionary<ExecutorProcess, (TimeSpan Cpu, TimeSpan GcPause)> _lastCpu = [];
    private readonly Dictionary<string, string> _entryAssemblyOf = new(StringComparer.Ordinal);

    /// <summary>The order in which the executors of the keys were asked for: a build supersedes only those asked for before it.</summary>
    private readonly Dictionary<string, long> _generationOf = new(StringComparer.Ordinal);
    private long _generation;
    private readonly List<Task> _stopping = [];
    private readonly CancellationTokenSource _lifetime = new();
    private readonly ITimer _sweeper;
    private readonly SpareExecutor _spare;
    private TimeSpan _endedCpu;
    private TimeSpan _endedGcPause;
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
        _folders = new ExecutorFolders(cacheDirectory, logger);
        _spare = new SpareExecutor(
            options, time, logger, () => ExecutorProcess.StartAsync(_options, environment: null, _folders.Next(), _slots, _limits, _time, _logger, _lifetime.Token), Track);
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
    public int? SpareProcessId => _spare.Started?.ProcessId;

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
            if (!_disposed && !_executors.Keys.Any(key => key.StartsWith(environmentId, StringComparison.Ordinal)))
            {
                _spare.Prepare();
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
                    _entryAssemblyOf[key] = environment.EntryAssembly;
                    _generationOf[key] = ++_generation;
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

    /// <summary>
    /// Processor time and resident memory of every executor, and the time they were paused for garbage collection as
    /// they reported it; the processor and pause time of ended ones included.
    /// </summary>
    public (TimeSpan Cpu, long WorkingSet, TimeSpan GcPause) Usage()
    {
        List<ExecutorProcess> running;
        lock (_gate)
        {
            running = [.. _executors.Values.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result)];
            if (_spare.Started is { } spare)
            {
                running.Add(spare);
            }
        }

        long workingSet = 0;
        lock (_lastCpu)
        {
            foreach (var executor in running)
            {
                var (used, resident, paused) = executor.Usage();
                if (used > TimeSpan.Zero)
                {
                    _lastCpu[executor] = (used, paused);
                }

                workingSet += resident;
            }

            foreach (var gone in _lastCpu.Keys.Where(e => !running.Contains(e)).ToList())
            {
                _endedCpu += _lastCpu[gone].Cpu;
                _endedGcPause += _lastCpu[gone].GcPause;
                _lastCpu.Remove(gone);
            }

            var cpu = _endedCpu + _lastCpu.Values.Aggregate(TimeSpan.Zero, (sum, used) => sum + used.Cpu);
            var gcPause = _endedGcPause + _lastCpu.Values.Aggregate(TimeSpan.Zero, (sum, used) => sum + used.GcPause);
            return (cpu, workingSet, gcPause);
        }
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
            if (_spare.Close() is { } spare)
            {
                executors.Add(spare);
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
        _folders.Delete();
        _lifetime.Dispose();
    }

    private async Task<ExecutorProcess> StartAsync(string key, ExecutorEnvironment environment)
    {
        // Not on the caller's thread: copying the app's files and starting the process must not hold the lock's caller.
        await Task.Yield();
        var started = _time.GetTimestamp();
        var executor = await _spare.TryBindAsync(environment, _lifetime.Token).ConfigureAwait(false);
        var how = executor is null ? "started" : "bound from the spare";
        executor ??= await ExecutorProcess.StartAsync(_options, environment, _folders.Next(), _slots, _limits, _time, _logger, _lifetime.Token).ConfigureAwait(false);
        _logger.ExecutorReady(executor.ProcessId, environment.ShortId, how, _time.GetElapsedTime(started).TotalMilliseconds);
        _ = executor.Exited.ContinueWith(exited => OnExited(key, executor, exited.Result), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        _spare.ReplaceWhileBuildsChange();
        if (_options.SupersededGrace <= TimeSpan.Zero)
        {
            EndSuperseded(key, environment);
        }
        else
        {
            // Not at once: see ExecutorOptions.SupersededGrace. An executor that a client takes meanwhile stays.
            _ = Task.Delay(_options.SupersededGrace, _time, _lifetime.Token).ContinueWith(
                delay => EndSuperseded(key, environment), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
        }

        return executor;
    }

    /// <summary>
    /// Ends the executors of earlier builds of <paramref name="environment"/>'s application (its entry assembly) that no
    /// stream uses now: a client that attaches with a new build supersedes them, never a build asked for after it. One a
    /// stream still uses is left to the idle timeout, as two clients may run two builds side by side.
    /// </summary>
    private void EndSuperseded(string key, ExecutorEnvironment environment)
    {
        List<ExecutorProcess>? superseded = null;
        lock (_gate)
        {
            var generation = _generationOf.GetValueOrDefault(key);
            foreach (var (other, starting) in _executors.ToList())
            {
                if (other != key
                    && _generationOf.GetValueOrDefault(other) < generation
                    && _entryAssemblyOf.GetValueOrDefault(other) == environment.EntryAssembly
                    && starting.IsCompletedSuccessfully
                    && starting.Result.EnvironmentId != environment.Id
                    && starting.Result.TryRetireIfSuperseded())
                {
                    _executors.Remove(other);
                    _entryAssemblyOf.Remove(other);
                    _generationOf.Remove(other);
                    (superseded ??= []).Add(starting.Result);
                }
            }
        }

        foreach (var executor in superseded ?? [])
        {
            _logger.ExecutorSuperseded(executor.ProcessId, executor.EnvironmentLabel, environment.ShortId);
            Track(executor.StopAsync());
        }
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
                _entryAssemblyOf.Remove(key);
                _generationOf.Remove(key);
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
            if (_spare.TakeIfIdle() is { } spare)
            {
                (idle ??= []).Add(spare);
            }

            foreach (var (key, starting) in _executors.ToList())
            {
                if (starting.IsCompletedSuccessfully && starting.Result.TryRetireIfIdle(_options.IdleTimeout))
                {
                    _executors.Remove(key);
                    _entryAssemblyOf.Remove(key);
                    _generationOf.Remove(key);
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
                _entryAssemblyOf.Remove(key);
                _generationOf.Remove(key);
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
}
