using Coiled.Remote.Scheduling;
using Coiled.Remote.Synchronization;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote;

/// <summary>The cluster's workers after its start: replacements for lost ones, and scaling up and down.</summary>
public sealed partial class Cluster
{
    private readonly SemaphoreSlim _scaling = new(1, 1);

    /// <summary>
    /// Sets the number of workers to <paramref name="workers"/>: starts more through the backend (each gets the caller's
    /// code and joins running calls), or retires workers, idle ones first. A retiring worker takes no new tasks, gives
    /// back those it has not started (they go to the other workers) and finishes those it runs, then stops: no task runs
    /// twice and none is lost. Returns once the cluster has that many workers.
    /// </summary>
    /// <param name="workers">How many workers the cluster should have; at least 1.</param>
    /// <param name="cancellationToken">
    /// Stops waiting. Workers already started stay in the cluster; workers already retiring still retire.
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="workers"/> is below 1.</exception>
    /// <exception cref="NotSupportedException">The cluster was made with <see cref="ConnectAsync(IEnumerable{Uri}, string, ClusterOptions?, CancellationToken)"/>: it did not start its workers, so it can neither start more nor stop them.</exception>
    /// <exception cref="ClusterStartException">The backend could not start the workers asked for; those that started stay.</exception>
    /// <exception cref="ObjectDisposedException">The cluster was disposed.</exception>
    public async Task ScaleAsync(int workers, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        ThrowIfConnected();
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        await _scaling.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lifetime.Token);
            var active = ActiveConnections();
            if (workers > active.Count)
            {
                _logger.Scaling(active.Count, workers, "asked for");
                await AddWorkersAsync(workers - active.Count, linked.Token).ConfigureAwait(false);
            }
            else if (workers < active.Count)
            {
                _logger.Scaling(active.Count, workers, "asked for");
                await RetireAsync(PickToRetire(active, active.Count - workers), "the cluster scaled down", linked.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (_lifetime.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new ObjectDisposedException(nameof(Cluster), "The cluster was disposed while it scaled.");
        }
        finally
        {
            _scaling.Release();
        }
    }

    /// <summary>A cluster of workers started by hand cannot scale.</summary>
    private void ThrowIfConnected()
    {
        if (_backend is ConnectedBackend)
        {
            throw new NotSupportedException(
                "This cluster was made with Cluster.ConnectAsync from workers started by hand: it can neither start more of them nor stop them, so it cannot scale. " +
                "Start or stop workers yourself and connect to them again, or start the cluster with Cluster.StartAsync and a backend.");
        }
    }

    /// <summary>The workers that run or will run tasks: not lost, stopped, interrupted, retiring or retired.</summary>
    private List<WorkerConnection> ActiveConnections()
    {
        lock (_connections)
        {
            return [.. _connections.Where(c => c.State is WorkerState.Ready or WorkerState.Starting)];
        }
    }

    /// <summary>The <paramref name="count"/> workers to retire: the idle first, then those with the fewest tasks, the newest first among equals.</summary>
    private List<WorkerConnection> PickToRetire(List<WorkerConnection> active, int count)
        => [.. active.Select((c, order) => (Connection: c, Order: order, Tasks: _scheduler.InFlightOn(c)))
            .Where(c => c.Tasks >= 0)
            .OrderBy(c => c.Tasks)
            .ThenByDescending(c => c.Order)
            .Take(count)
            .Select(c => c.Connection)];

    /// <summary>Starts <paramref name="count"/> workers through the backend; each joins the running cluster as it comes.</summary>
    private async Task AddWorkersAsync(int count, CancellationToken cancellationToken)
    {
        var added = 0;
        try
        {
            await foreach (var endpoint in _backend.StartWorkersStreamingAsync(_session.Launch with { Count = count, MinimumCount = count }, cancellationToken).ConfigureAwait(false))
            {
                var connection = await JoinStartedWorkerAsync(endpoint, cancellationToken).ConfigureAwait(false);
                _logger.WorkerAdded(connection.Id, connection.Endpoint.Address, ++added, count);
                _scheduler.Metrics.Scaled(up: true);
            }
        }
        catch (Exception ex) when (ex is not (OperationCanceledException or ClusterStartException or ObjectDisposedException))
        {
            throw new ClusterStartException($"Starting {count - added} more worker(s) through {_backend.Name} failed: {ex.GetBaseException().Message} The {added} that started stay in the cluster.", ex);
        }
    }

    /// <summary>
    /// Retires <paramref name="retiring"/> at once; returns once each has finished its tasks and been stopped. Each is
    /// stopped when its retirement ends even if the caller stops waiting; disposal waits for that.
    /// </summary>
    private async Task RetireAsync(List<WorkerConnection> retiring, string why, CancellationToken cancellationToken)
    {
        var stops = retiring.Select(connection => StopWhenRetiredAsync(connection, _scheduler.RetireAsync(connection), why)).ToList();
        stops.ForEach(TrackStop);
        await Task.WhenAll(stops).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task StopWhenRetiredAsync(WorkerConnection connection, Task retired, string why)
    {
        await retired.ConfigureAwait(false);
        if (connection.State != WorkerState.Retired)
        {
            // Lost or interrupted while it retired (the cluster dealt with it as such), or kept as the last worker.
            return;
        }

        try
        {
            await connection.ShutdownAsync(why).ConfigureAwait(false);
            await StopQuietlyAsync(connection.Endpoint, connection.Id, why, CancellationToken.None).ConfigureAwait(false);
            _scheduler.Metrics.Scaled(up: false);

            // Its channel and loops go now; it stays listed in Workers as retired.
            await connection.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // The cluster's disposal may be releasing the connection meanwhile; it stops every worker in any case.
            _logger.WorkerNotStopped(ex, connection.Id, ex.Message);
        }
    }

    /// <summary>A worker the backend started after the cluster's start: connect, synchronize, open its executor, and give it to the scheduler.</summary>
    /// <remarks>
    /// The cluster lists the worker once it takes tasks. A worker that fails to join (or whose join is cancelled) is
    /// disconnected and stopped through the backend, so that it does not run on unseen.
    /// </remarks>
    private async Task<WorkerConnection> JoinStartedWorkerAsync(WorkerEndpoint endpoint, CancellationToken cancellationToken)
    {
        WorkerConnection? connection = null;
        try
        {
            connection = await WorkerConnection.ConnectAsync(endpoint, _session.Launch.Token, _options.WorkerTimeout, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
            var environmentId = string.Empty;
            if (!connection.Endpoint.UsesCallerProcess)
            {
                var synchronized = await SyncOneAsync(connection, SnapshotFor(_session.Application!, connection), (_backend as IStagingBackend)?.Staging, cancellationToken).ConfigureAwait(false);
                environmentId = synchronized.EnvironmentId;
                OnSynchronized(synchronized.BytesSent);
            }

            await OpenOneAsync(connection, environmentId, _session.Variables, cancellationToken).ConfigureAwait(false);
            lock (_connections)
            {
                _connections.Add(connection);
            }

            // Disposal lists the connections after it marks the cluster disposed: one joining meanwhile ends here.
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            StartWorker(connection);
            LogWorker(connection);
            return connection;
        }
        catch (Exception)
        {
            if (connection is not null)
            {
                lock (_connections)
                {
                    _connections.Remove(connection);
                }

                await connection.DisposeAsync().ConfigureAwait(false);
            }

            await StopQuietlyAsync(endpoint, endpoint.Address.ToString(), "it did not join the cluster", CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>A worker was lost: start, synchronize and add a replacement, or give up when that is off or fails.</summary>
    private async Task ReplaceAsync(ITaskWorker lost, string how)
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        if (Interlocked.Increment(ref _replacements) > MaxReplacementsPerWorker * Math.Max(_session.Launch.Count, ActiveConnections().Count))
        {
            _scheduler.GiveUpIfNoWorkers($"worker {lost.Id} ended ({how}) and the cluster already replaced {_replacements - 1} lost workers.");
            return;
        }

        try
        {
            var token = _lifetime.Token;
            var endpoints = await _backend.StartWorkersAsync(_session.Launch with { Count = 1 }, token).ConfigureAwait(false);
            var connection = await JoinStartedWorkerAsync(endpoints[0], token).ConfigureAwait(false);
            _logger.WorkerReplaced(lost.Id, how, connection.Id, connection.Endpoint.Address);
        }
        catch (Exception ex) when (Volatile.Read(ref _disposed) == 0)
        {
            _logger.WorkerNotReplaced(ex, lost.Id, how);
            _scheduler.GiveUpIfNoWorkers($"worker {lost.Id} ended ({how}) and starting a replacement failed: {ex.GetBaseException().Message}");
        }
        catch (Exception)
        {
            // The cluster is being disposed; it stops whatever was started.
        }
    }
}
