using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Worker.Executors;

/// <summary>
/// The worker daemon's spare executor, kept by its <see cref="ExecutorSupervisor"/>. Like Ray's prestarted workers, a
/// spare executor starts, its runtime with it, when a client plans the sync of a build that no executor runs, and takes
/// that environment when the client opens it: binding it costs milliseconds where starting a process costs a tenth of a
/// second, and the upload hides the start. While builds change (a second new environment within the spare timeout, 10
/// minutes, of the one before: an edit-and-run loop), a spare also starts as soon as one is taken, so that the next build
/// finds it ready. A spare that no client takes ends after the spare timeout, so that a daemon keeps no process it does
/// not use.
/// </summary>
/// <remarks>
/// The supervisor calls <see cref="Prepare"/>, <see cref="TakeIfIdle"/> and <see cref="Close"/>, and reads
/// <see cref="Started"/> for its usage, while it holds its own lock, so that they agree with its executors; this type
/// never takes the supervisor's lock, so the two locks are always taken in that order.
/// </remarks>
internal sealed class SpareExecutor
{
    /// <summary>
    /// Variables that a started runtime or loader has already read, or that a spare's warm-up has (the trusted
    /// certificates its TLS handshake loaded): an environment forwarding one of these gets an executor started with it,
    /// never a spare.
    /// </summary>
    private static readonly string[] StartupVariablePrefixes = ["DOTNET_", "COMPlus_", "CORECLR_", "LD_", "MALLOC_", "SSL_CERT_", "OPENSSL_"];

    private readonly ExecutorOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Func<Task<ExecutorProcess>> _startProcess;
    private readonly Action<Task> _track;
    private readonly Lock _gate = new();

    /// <summary>The spare, running or starting; null when there is none.</summary>
    private Task<ExecutorProcess>? _spare;

    /// <summary>When the spare started, for its idle timeout.</summary>
    private long _spareSince;

    /// <summary>When the last executor started for a new environment; 0 before the first.</summary>
    private long _lastNewExecutor;

    /// <summary>Whether the supervisor ended: no spare starts any more.</summary>
    private bool _closed;

    /// <summary>The timer that starts a spare to replace the one taken (<see cref="ExecutorOptions.SpareReplaceDelay"/>); null when none waits.</summary>
    private ITimer? _replacement;

    /// <param name="options">Whether to keep a spare, how long a bind may take and when an untaken spare ends.</param>
    /// <param name="time">The clock of the idle timeout.</param>
    /// <param name="logger">Where a spare that failed to start is told.</param>
    /// <param name="startProcess">Starts an executor process with no environment, in a folder of its own.</param>
    /// <param name="track">Keeps an executor's stopping, so that the supervisor waits for it when it ends.</param>
    public SpareExecutor(ExecutorOptions options, TimeProvider time, ILogger logger, Func<Task<ExecutorProcess>> startProcess, Action<Task> track)
    {
        _options = options;
        _time = time;
        _logger = logger;
        _startProcess = startProcess;
        _track = track;
    }

    /// <summary>The spare's process once it started; null when there is none or it is still starting.</summary>
    public ExecutorProcess? Started
    {
        get
        {
            lock (_gate)
            {
                return _spare is { IsCompletedSuccessfully: true } spare ? spare.Result : null;
            }
        }
    }

    /// <summary>
    /// Starts the spare if the options keep one and none runs or starts. The supervisor calls it for a client about to
    /// open an environment that no executor runs.
    /// </summary>
    public void Prepare()
    {
        lock (_gate)
        {
            if (_options.KeepSpare && _spare is null && !_closed)
            {
                CancelReplacement();
                _spareSince = _time.GetTimestamp();
                _spare = StartAsync();
            }
        }
    }

    /// <summary>
    /// Binds the spare, if there is one that <paramref name="environment"/>'s variables allow, to that environment.
    /// A spare that failed to start is told and forgotten; one that could not be bound, for whatever reason, ends.
    /// </summary>
    /// <returns>The bound executor; null when there was no spare to take or it could not be bound.</returns>
    public async Task<ExecutorProcess?> TryBindAsync(ExecutorEnvironment environment, CancellationToken cancellationToken)
    {
        ExecutorProcess? executor = null;
        if (Take(environment.Variables) is { } spare)
        {
            try
            {
                var candidate = await spare.ConfigureAwait(false);
                try
                {
                    executor = await candidate.TryBindAsync(environment, _options.StartTimeout, cancellationToken).ConfigureAwait(false) ? candidate : null;
                }
                finally
                {
                    if (executor is null)
                    {
                        // Not bound, whatever the reason: it ends here, since nothing else knows of it any more.
                        _track(candidate.StopAsync());
                    }
                }
            }
            catch (ExecutorStartException ex)
            {
                _logger.SpareFailedToStart(ex.Message, environment.ShortId);
            }
        }

        return executor;
    }

    /// <summary>After an executor started for a new environment: starts a spare when the one before also came within the spare timeout.</summary>
    public void ReplaceWhileBuildsChange()
    {
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            var changing = _lastNewExecutor != 0 && _time.GetElapsedTime(_lastNewExecutor, now) < _options.SpareTimeout;
            _lastNewExecutor = now;
            if (changing && _options.KeepSpare && _spare is null && !_closed)
            {
                if (_options.SpareReplaceDelay <= TimeSpan.Zero)
                {
                    _spareSince = now;
                    _spare = StartAsync();
                }
                else
                {
                    // Not at once: see ExecutorOptions.SpareReplaceDelay.
                    CancelReplacement();
                    _replacement = _time.CreateTimer(static state => ((SpareExecutor)state!).StartReplacement(), this, _options.SpareReplaceDelay, Timeout.InfiniteTimeSpan);
                }
            }
        }
    }

    /// <summary>The replacement's delay is over: starts it, unless a spare runs or starts already (a client planned meanwhile).</summary>
    private void StartReplacement()
    {
        lock (_gate)
        {
            CancelReplacement();
            if (_options.KeepSpare && _spare is null && !_closed)
            {
                _spareSince = _time.GetTimestamp();
                _spare = StartAsync();
            }
        }
    }

    /// <summary>Forgets a replacement that waits to start; under the lock.</summary>
    private void CancelReplacement()
    {
        _replacement?.Dispose();
        _replacement = null;
    }

    /// <summary>The spare, retired, when it started and no client took it within the spare timeout; null otherwise. The caller stops it.</summary>
    public ExecutorProcess? TakeIfIdle()
    {
        lock (_gate)
        {
            if (_spare is { IsCompletedSuccessfully: true } spare && _time.GetElapsedTime(_spareSince) >= _options.SpareTimeout)
            {
                _spare = null;
                spare.Result.Retire();
                return spare.Result;
            }

            return null;
        }
    }

    /// <summary>Starts no spare from now on; returns the one running or starting, if any, for the caller to stop.</summary>
    public Task<ExecutorProcess>? Close()
    {
        lock (_gate)
        {
            _closed = true;
            CancelReplacement();
            var spare = _spare;
            _spare = null;
            return spare;
        }
    }

    /// <summary>The spare, for an environment whose variables a started runtime can still take on; null when there is none to take.</summary>
    private Task<ExecutorProcess>? Take(IReadOnlyDictionary<string, string> variables)
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

    private async Task<ExecutorProcess> StartAsync()
    {
        await Task.Yield();
        var spare = await _startProcess().ConfigureAwait(false);
        _ = spare.Exited.ContinueWith(_ => OnExited(spare), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return spare;
    }

    /// <summary>The spare ended before it was bound (killed, or out of memory): forgotten; the next new environment starts another.</summary>
    private void OnExited(ExecutorProcess spare)
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
            _track(spare.StopAsync());
        }
    }
}
