using Coiled.Remote.Synchronization;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Grpc.Core;
using Grpc.Net.Client;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// The cluster's side of one worker: the gRPC channel, the environment it syncs and opens, the long-lived task stream
/// that carries the scheduler's batches and the worker's results (<see cref="TaskStreams"/>), and the
/// <see cref="HeartbeatMonitor"/> that tells when the worker went silent.
/// </summary>
internal sealed class WorkerConnection : ITaskWorker, IAsyncDisposable
{
    private readonly GrpcChannel _channel;
    private readonly Transport.Protocol.Worker.WorkerClient _client;
    private readonly CallOptions _call;
    private readonly CancellationTokenSource _stop = new();
    private readonly BulkChannel? _bulk;
    private readonly TaskStreams _streams;
    private readonly TimeProvider _time;
    private readonly HeartbeatMonitor _heartbeats;
    private readonly WorkerPressure _pressure;
    private readonly long _connectedAt;
    private Task _loops = Task.CompletedTask;
    private long _endedAt;
    private int _rebalanceReported;
    private int _interruptionReported;

    private int _disposed;

    private WorkerConnection(WorkerEndpoint endpoint, GrpcChannel channel, CallOptions call, HelloReply hello, string token, TimeSpan workerTimeout, TimeProvider time)
    {
        WorkerTimeout = workerTimeout;
        _time = time;
        _connectedAt = time.GetTimestamp();
        _heartbeats = new HeartbeatMonitor(workerTimeout, time, StallMonitor.For(time));
        _pressure = new WorkerPressure(time);
        if (hello.BulkPort > 0 && !hello.DirectRoutes)
        {
            // Bulk data shares the worker's one port: the port this client reached it on, which differs from the one
            // the worker listens on behind a port mapping, a tunnel or a load balancer.
            _bulk = new BulkChannel(endpoint.Address.Host, endpoint.Address.Port, hello.BulkLocalName, token, endpoint.CertificateThumbprint);
        }

        Endpoint = endpoint;
        _channel = channel;
        _call = call;
        _client = new Transport.Protocol.Worker.WorkerClient(channel);
        Hello = hello;
        _streams = new TaskStreams(
            this, endpoint, _client, call, hello.DirectRoutes, Math.Clamp(hello.Cores, 1, WireLimits.MaxSlots), _bulk, workerTimeout, time, _stop.Token);
    }

    public WorkerEndpoint Endpoint { get; }

    /// <summary>How long the worker may stay silent before it is declared lost (<see cref="ClusterOptions.WorkerTimeout"/>).</summary>
    public TimeSpan WorkerTimeout { get; }

    public HelloReply Hello { get; }

    public string Id => Hello.WorkerId;

    public Uri Address => Endpoint.Address;

    /// <summary>The worker's id as a metric tag.</summary>
    public KeyValuePair<string, object?> Tag => new(Telemetry.RemoteTelemetry.WorkerTag, Hello.WorkerId);

    public int Slots => _streams.Slots;

    /// <summary>Set by the scheduler, under its lock; read by anyone.</summary>
    public WorkerState State { get; set; } = WorkerState.Starting;

    public WorkerInfo Info => new(Id, Endpoint.Address, Hello.Cores, Hello.MemoryBytes, Hello.ProcessId, State);

    /// <summary>The worker's latest CPU and memory report; null until the first arrives.</summary>
    public WorkerStats? Stats => _heartbeats.Stats;

    /// <summary>How long the worker has been connected: until it was lost or disconnected, or until now.</summary>
    public TimeSpan ConnectedTime
    {
        get
        {
            var ended = Interlocked.Read(ref _endedAt);
            return _time.GetElapsedTime(_connectedAt, ended == 0 ? _time.GetTimestamp() : ended);
        }
    }

    /// <summary>Stops the <see cref="ConnectedTime"/> clock; later calls change nothing.</summary>
    public void MarkEnded() => Interlocked.CompareExchange(ref _endedAt, _time.GetTimestamp(), 0);

    public void Wake() => _streams.Wake();

    /// <summary>Opens a channel to the worker and says hello (<see cref="WorkerDialer"/>).</summary>
    /// <param name="endpoint">The worker.</param>
    /// <param name="token">The cluster token.</param>
    /// <param name="workerTimeout">How long the worker may stay silent, at start and later, before its connection is given up.</param>
    /// <param name="time">The clock the connection's timeouts and heartbeats are timed on.</param>
    /// <param name="cancellationToken">Cancels connecting.</param>
    public static async Task<WorkerConnection> ConnectAsync(WorkerEndpoint endpoint, string token, TimeSpan workerTimeout, TimeProvider time, CancellationToken cancellationToken)
    {
        var (channel, call, hello) = await WorkerDialer.DialAsync(endpoint, token, workerTimeout, time, cancellationToken).ConfigureAwait(false);
        try
        {
            return new WorkerConnection(endpoint, channel, call, hello, token, workerTimeout, time);
        }
        catch
        {
            channel.Dispose();
            throw;
        }
    }

    public Task<EnvironmentUploader.Outcome> SyncAsync(EnvironmentSnapshot snapshot, IBlobStaging? staging, CancellationToken cancellationToken)
        => EnvironmentUploader.SyncAsync(_client, snapshot, _call, staging, cancellationToken);

    /// <summary>Opens the task stream in an environment and waits until the worker says it is ready.</summary>
    public async Task OpenAsync(string environmentId, IReadOnlyDictionary<string, string> environmentVariables, CancellationToken cancellationToken)
    {
        var open = new OpenEnvironment { EnvironmentId = environmentId };
        foreach (var (name, value) in environmentVariables)
        {
            open.EnvironmentVariables[name] = value;
        }

        if (_bulk is not null)
        {
            try
            {
                // Open now, so that large results can come back on it from the first task on.
                await _bulk.ConnectAsync(cancellationToken).ConfigureAwait(false);
                open.ResultChannel = _bulk.Channel;
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or System.Security.Authentication.AuthenticationException)
            {
                // Results then come back in the task stream; arguments try the connection again when they need it.
            }
        }

        await _streams.OpenAsync(open, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Starts sending batches and receiving results for <paramref name="scheduler"/>, which took the worker (<see cref="Scheduler.AddWorker"/>).</summary>
    public void Start(Scheduler scheduler)
    {
        _heartbeats.Restart();
        _loops = Task.WhenAll(
            Task.Run(() => _streams.RunAsync(scheduler)),
            Task.Run(() => WatchHeartbeatsAsync(scheduler)));
    }

    /// <summary>Describes how the worker ended, waiting briefly for its backend to report the process exit.</summary>
    public async Task<string> DescribeLossAsync(Exception? error)
    {
        if (error is not TimeoutException && Endpoint.Exited is { } exited)
        {
            await Task.WhenAny(exited, Task.Delay(TimeSpan.FromSeconds(1), _time)).ConfigureAwait(false);
            if (exited.IsCompletedSuccessfully)
            {
                return exited.Result;
            }
        }

        return error switch
        {
            null => "it closed its task stream",
            TimeoutException silence => $"it went silent ({silence.Message})",
            RpcException rpc => $"its connection failed ({rpc.StatusCode}: {rpc.Status.Detail})",
            _ => $"its connection failed ({error.GetBaseException().Message})",
        };
    }

    public async Task ShutdownAsync(string reason)
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            // Told already (a retired worker), and its channel is gone.
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2), _time);
            await _client.ShutdownAsync(new ShutdownRequest { Reason = reason }, _call.WithCancellationToken(timeout.Token)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RpcException or OperationCanceledException)
        {
            // The worker is already gone, or its backend stops it anyway.
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Once: a retired worker's connection is disposed when it retires, and again with the cluster.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        MarkEnded();
        _stop.Cancel();

        // Ends a blocking read of results.
        _streams.CloseDirect();
        try
        {
            await _loops.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Loop failures were reported to the scheduler as the worker's loss.
        }

        _streams.CloseRelayed();
        if (_bulk is not null)
        {
            await _bulk.DisposeAsync().ConfigureAwait(false);
        }

        _channel.Dispose();
        _stop.Dispose();
    }

    /// <summary>Declares the worker lost when its <see cref="HeartbeatMonitor"/> finds it silent while it should run tasks.</summary>
    private async Task WatchHeartbeatsAsync(Scheduler scheduler)
    {
        var watch = _client.Watch(new WatchRequest { IntervalMs = HeartbeatMonitor.IntervalMilliseconds }, _call.WithCancellationToken(_stop.Token));
        await _heartbeats.WatchAsync(
            watch, () => State is WorkerState.Ready or WorkerState.Retiring, silent => OnSilentAsync(scheduler, silent), stats => OnNoticeAsync(scheduler, stats),
            stats => OnStats(scheduler, stats), _stop.Token).ConfigureAwait(false);
    }

    /// <summary>Warns, once per episode, when the worker's report shows it short of memory or thrashing (<see cref="WorkerPressure"/>).</summary>
    private void OnStats(Scheduler scheduler, WorkerStats stats)
    {
        var findings = _pressure.Observe(_time.GetTimestamp(), stats, Hello.MemoryBytes);
        if (findings.MemoryHigh)
        {
            scheduler.OnMemoryHigh(this, stats.WorkingSetBytes, stats.MachineMemoryBytes > 0 ? stats.MachineMemoryBytes : Hello.MemoryBytes);
        }

        if (findings.Thrashing is { } share)
        {
            scheduler.OnThrashing(this, share);
        }
    }

    /// <summary>
    /// The worker reported what its cloud said about its machine. A rebalance recommendation is logged once. An
    /// interruption notice takes the worker out at once: its tasks go back to the queue with no death counted, its task
    /// streams close (so that nothing runs twice), and it is told to stop, since its machine goes anyway.
    /// </summary>
    private async Task OnNoticeAsync(Scheduler scheduler, WorkerStats stats)
    {
        if (stats.Rebalance is { } rebalance && Interlocked.Exchange(ref _rebalanceReported, 1) == 0)
        {
            scheduler.OnRebalanceRecommended(this, rebalance);
        }

        if (stats.Interruption is not { } interruption || Interlocked.Exchange(ref _interruptionReported, 1) != 0)
        {
            return;
        }

        // Recording the interruption puts its tasks back in the queue before it first waits (for a replacement), and
        // marks the worker so that its streams' closing below does not count as a loss.
        var interrupted = scheduler.OnWorkerInterruptedAsync(this, interruption);
        _streams.CloseRelayed();
        _streams.CloseDirect();
        await ShutdownAsync($"its machine's cloud will {interruption.Action} it at {interruption.TimeText}").ConfigureAwait(false);
        await interrupted.ConfigureAwait(false);
    }

    private async Task OnSilentAsync(Scheduler scheduler, TimeSpan silent)
    {
        // Recording the loss puts its tasks back in the queue before it first waits (for a replacement).
        var lost = scheduler.OnWorkerLostAsync(this, new TimeoutException(
            $"no heartbeat for {silent.TotalSeconds:0.0} s; one is due every {HeartbeatMonitor.IntervalMilliseconds} ms, and ClusterOptions.WorkerTimeout is {WorkerTimeout.TotalSeconds:0.#} s"));

        // Its tasks now run elsewhere: a worker of this cluster's own that was only frozen must not run them too,
        // so it is stopped at once, not after its replacement started.
        _streams.CloseRelayed();
        Endpoint.Abandon?.Invoke();
        await lost.ConfigureAwait(false);
    }
}
