using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Coiled.Remote.Scheduling;
using Coiled.Remote.Synchronization;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote;

/// <summary>
/// Brings the workers a backend yields into the cluster one by one: each is connected as soon as it is up, then
/// synchronized and opened, and handed over through <see cref="Ready"/>. The first worker synchronizes alone, so that
/// workers sharing a machine's cache find everything present and upload nothing. Until
/// <see cref="WorkerLaunch.MinimumCount"/> workers are ready, a failure that leaves too few to come fails the start
/// (<see cref="Failure"/>); once they are, a worker that does not come is logged and the cluster runs on.
/// </summary>
internal sealed class WorkerArrivals
{
    private readonly IClusterBackend _backend;
    private readonly WorkerLaunch _launch;
    private readonly ClusterOptions _options;
    private readonly Task<ApplicationFolder> _application;
    private readonly IReadOnlyDictionary<string, string> _variables;
    private readonly ILogger _logger;
    private readonly Channel<WorkerArrival> _ready = Channel.CreateUnbounded<WorkerArrival>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _firstSynchronized = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _lock = new();
    private readonly List<WorkerConnection> _connections = [];
    private readonly List<WorkerConnection> _arrived = [];
    private int _claimedFirst;
    private int _failed;
    private bool _reportedSynchronizing;
    private ExceptionDispatchInfo? _failure;
    private Task _run = Task.CompletedTask;

    public WorkerArrivals(
        IClusterBackend backend, WorkerLaunch launch, ClusterOptions options, Task<ApplicationFolder> application,
        IReadOnlyDictionary<string, string> variables, ILogger logger)
    {
        _backend = backend;
        _launch = launch;
        _options = options;
        _application = application;
        _variables = variables;
        _logger = logger;
    }

    /// <summary>Workers connected, synchronized and opened, in the order they became ready; completes when no more can come.</summary>
    public ChannelReader<WorkerArrival> Ready => _ready.Reader;

    /// <summary>Why the start cannot succeed, once too few workers can still come; null until then.</summary>
    public ExceptionDispatchInfo? Failure
    {
        get
        {
            lock (_lock)
            {
                return _failure;
            }
        }
    }

    /// <summary>Every connection made so far, handed over or not: what a failed start closes.</summary>
    public IReadOnlyList<WorkerConnection> Connections
    {
        get
        {
            lock (_lock)
            {
                return [.. _connections];
            }
        }
    }

    /// <summary>Starts asking the backend for workers.</summary>
    public void Begin() => _run = Task.Run(() => RunAsync(_stop.Token), CancellationToken.None);

    /// <summary>Stops asking for workers: the start was cancelled, or the cluster is closing.</summary>
    public void Cancel() => _stop.Cancel();

    /// <summary>Stops asking for workers and waits until every one under way has come or given up.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _run.ConfigureAwait(false);
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var bringing = new List<Task>();
        try
        {
            await foreach (var endpoint in _backend.StartWorkersStreamingAsync(_launch, cancellationToken).ConfigureAwait(false))
            {
                bringing.Add(BringInAsync(bringing.Count, endpoint, cancellationToken));
            }
        }
        catch (Exception ex)
        {
            var missing = _launch.Count - bringing.Count;
            Failed(missing, ex is OperationCanceledException or ClusterStartException
                ? ex
                : new ClusterStartException($"The {_backend.Name} backend could not start {missing} worker(s): {ex.Message}", ex), address: null);
        }
        finally
        {
            await Task.WhenAll(bringing).ConfigureAwait(false);
            _ready.Writer.TryComplete();
        }
    }

    /// <summary>One worker from its endpoint to ready: connect, synchronize (after the first), open. Never throws.</summary>
    private async Task BringInAsync(int order, WorkerEndpoint endpoint, CancellationToken cancellationToken)
    {
        WorkerConnection? connection = null;
        try
        {
            try
            {
                connection = await WorkerConnection.ConnectAsync(endpoint, _launch.Token, _options.WorkerTimeout, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                throw new ClusterStartException($"Could not reach 1 of {_launch.Count} worker(s) ({endpoint.Address}): {ex.Message}", ex);
            }

            lock (_lock)
            {
                _connections.Add(connection);
            }

            var arrival = new WorkerArrival(order, connection, 0, 0, 0);
            var environmentId = string.Empty;
            if (!endpoint.UsesCallerProcess)
            {
                var application = await ApplicationAsync().ConfigureAwait(false);
                var snapshot = Cluster.SnapshotFor(application, connection);
                var first = Interlocked.Exchange(ref _claimedFirst, 1) == 0;

                // Workers of a backend with shared storage fetch from it, which stages each file once whoever asks.
                var staging = (_backend as IStagingBackend)?.Staging;
                if (!first && staging is null)
                {
                    // The first worker goes alone: workers sharing a machine share a blob cache, so the rest then find
                    // everything present and upload nothing.
                    await _firstSynchronized.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
                }

                try
                {
                    ReportSynchronizing();
                    var outcome = await Cluster.SyncOneAsync(connection, snapshot, staging, cancellationToken).ConfigureAwait(false);
                    environmentId = outcome.EnvironmentId;
                    arrival = arrival with
                    {
                        BlobsSent = outcome.BlobsSent,
                        BytesSent = outcome.BytesSent,
                        BlobsFetched = outcome.BlobsFetched,
                        BytesFetched = outcome.BytesFetched,
                        ManifestFiles = snapshot.Manifest.Files.Count,
                    };
                }
                finally
                {
                    if (first)
                    {
                        _firstSynchronized.TrySetResult();
                    }
                }
            }
            else
            {
                ReportSynchronizing();
            }

            await Cluster.OpenOneAsync(connection, environmentId, _variables, cancellationToken).ConfigureAwait(false);
            Arrived(arrival);
        }
        catch (Exception ex)
        {
            if (connection is not null)
            {
                lock (_lock)
                {
                    _connections.Remove(connection);
                }

                await connection.DisposeAsync().ConfigureAwait(false);
            }

            Failed(1, ex, endpoint.Address);
        }
    }

    private async Task<ApplicationFolder> ApplicationAsync()
    {
        try
        {
            return await _application.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not (EnvironmentSyncException or OperationCanceledException))
        {
            throw new EnvironmentSyncException($"The application in {AppContext.BaseDirectory} could not be captured for synchronization: {ex.Message}", ex);
        }
    }

    private void Arrived(WorkerArrival arrival)
    {
        // Progress is reported under the lock, so that reports come in the order of what they count.
        lock (_lock)
        {
            if (_failure is not null)
            {
                // The start failed meanwhile: what it connected is closed with the rest.
                return;
            }

            _arrived.Add(arrival.Connection);
            _ready.Writer.TryWrite(arrival);
            if (_arrived.Count <= _launch.MinimumCount)
            {
                _options.Progress?.Report(new ClusterProgress("starting workers", _arrived.Count, _launch.Count, 0, 0, 0, 0));
            }
        }
    }

    /// <summary>
    /// <paramref name="workers"/> will not come. Before enough are ready, that fails the start when too few can still
    /// come (or the start was cancelled); otherwise the cluster runs on without them, and the log says why.
    /// </summary>
    private void Failed(int workers, Exception error, Uri? address)
    {
        int arrived;
        lock (_lock)
        {
            _failed += workers;
            arrived = _arrived.Count;
            var enough = arrived >= _launch.MinimumCount;
            if (!enough && _failure is null && (error is OperationCanceledException || _launch.Count - _failed < _launch.MinimumCount))
            {
                _failure = ExceptionDispatchInfo.Capture(StartFailure(error));
                _stop.Cancel();
                return;
            }

            if (_failure is not null || _stop.IsCancellationRequested)
            {
                // The start already failed, or the cluster is closing: nothing to tell.
                return;
            }
        }

        _logger.WorkersDidNotCome(error, workers, address?.ToString() ?? "not started", arrived, _launch.Count, error.Message);
    }

    /// <summary>
    /// The start's failure: as it came when every worker was needed; otherwise a <see cref="ClusterStartException"/>
    /// that says which workers came and how many did not.
    /// </summary>
    private Exception StartFailure(Exception error)
    {
        if (error is OperationCanceledException || _launch.MinimumCount == _launch.Count)
        {
            return error;
        }

        var came = _arrived.Count == 0 ? "none came" : $"{_arrived.Count} came ({string.Join(", ", _arrived.Select(c => $"{c.Id} at {c.Endpoint.Address}"))})";
        return new ClusterStartException(
            $"The cluster needs at least {_launch.MinimumCount} of {_launch.Count} worker(s) (ClusterOptions.MinimumWorkers) and {came}; " +
            $"{_failed} did not: {error.Message}", error);
    }

    private void ReportSynchronizing()
    {
        lock (_lock)
        {
            if (!_reportedSynchronizing)
            {
                _reportedSynchronizing = true;
                _options.Progress?.Report(new ClusterProgress("synchronizing", _arrived.Count, _launch.Count, 0, 0, 0, 0));
            }
        }
    }
}
