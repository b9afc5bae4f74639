using Coiled.Remote.Synchronization;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Grpc.Core;
using Grpc.Net.Client;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// The cluster's side of one worker: the gRPC channel, the long-lived task stream that carries the scheduler's batches
/// and the worker's results, and the <see cref="HeartbeatMonitor"/> that tells when the worker went silent.
/// </summary>
internal sealed class WorkerConnection : ITaskWorker, IAsyncDisposable
{
    /// <summary>Executor deaths in a row with no task in flight after which the worker counts as lost: something other than a task kills them.</summary>
    private const int MaxIdleExecutorLosses = 3;

    private readonly GrpcChannel _channel;
    private readonly Transport.Protocol.Worker.WorkerClient _client;
    private readonly CallOptions _call;
    private readonly CancellationTokenSource _stop = new();
    private readonly BulkChannel? _bulk;
    private AsyncDuplexStreamingCall<RunRequest, RunReply>? _run;
    private DirectTaskStream? _direct;
    private OpenEnvironment? _open;
    private readonly AsyncSignal _signal = new();
    private readonly TimeProvider _time;
    private readonly HeartbeatMonitor _heartbeats;
    private readonly long _connectedAt;
    private Task _loops = Task.CompletedTask;
    private long _endedAt;

    /// <summary>The longest a direct route may take to connect and open, once the worker issued its ticket.</summary>
    private static readonly TimeSpan DirectRouteTimeout = TimeSpan.FromSeconds(30);

    private WorkerConnection(WorkerEndpoint endpoint, GrpcChannel channel, CallOptions call, HelloReply hello, string token, TimeSpan workerTimeout, TimeProvider time)
    {
        WorkerTimeout = workerTimeout;
        _time = time;
        _connectedAt = time.GetTimestamp();
        _heartbeats = new HeartbeatMonitor(workerTimeout, time, StallMonitor.For(time));
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
        Slots = Math.Clamp(hello.Cores, 1, WireLimits.MaxSlots);
    }

    public WorkerEndpoint Endpoint { get; }

    /// <summary>How long the worker may stay silent before it is declared lost (<see cref="ClusterOptions.WorkerTimeout"/>).</summary>
    public TimeSpan WorkerTimeout { get; }

    public HelloReply Hello { get; }

    public string Id => Hello.WorkerId;

    public Uri Address => Endpoint.Address;

    /// <summary>The worker's id as a metric tag.</summary>
    public KeyValuePair<string, object?> Tag => new(Telemetry.RemoteTelemetry.WorkerTag, Hello.WorkerId);

    public int Slots { get; private set; }

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

    public void Wake() => _signal.Set();

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

    public Task<EnvironmentUploader.Outcome> SyncAsync(EnvironmentSnapshot snapshot, CancellationToken cancellationToken)
        => EnvironmentUploader.SyncAsync(_client, snapshot, _call, cancellationToken);

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

        _open = open;
        await OpenStreamAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Starts sending batches and receiving results for <paramref name="scheduler"/>, which took the worker (<see cref="Scheduler.AddWorker"/>).</summary>
    public void Start(Scheduler scheduler)
    {
        _heartbeats.Restart();
        _loops = Task.WhenAll(
            Task.Run(() => RunStreamsAsync(scheduler)),
            Task.Run(() => WatchHeartbeatsAsync(scheduler)));
    }

    /// <summary>Opens a task stream with what <see cref="OpenAsync"/> was given and waits until the worker says it is ready.</summary>
    private async Task OpenStreamAsync(CancellationToken cancellationToken)
    {
        var environmentId = _open!.EnvironmentId;
        if (Hello.DirectRoutes)
        {
            // The executor serves the stream itself, on a connection of its own: no process in between.
            var ticket = await _client.OpenRouteAsync(_open, _call.WithCancellationToken(cancellationToken)).ConfigureAwait(false);
            _direct?.Dispose();
            (_direct, var ready) = await DirectTaskStream.OpenAsync(Endpoint, ticket, DirectRouteTimeout, cancellationToken).ConfigureAwait(false);
            if (_stop.IsCancellationRequested)
            {
                // Disposed meanwhile, after it closed the stream it knew.
                _direct.Dispose();
            }

            Slots = Math.Clamp(ready.Slots, 1, WireLimits.MaxSlots);
            return;
        }

        _run?.Dispose();
        _run = _client.Run(_call.WithCancellationToken(_stop.Token));
        await _run.RequestStream.WriteAsync(new RunRequest { Open = _open }, cancellationToken).ConfigureAwait(false);
        if (!await _run.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            throw new EnvironmentSyncException($"Worker {Id} at {Endpoint.Address} closed the task stream instead of opening environment {environmentId}.");
        }

        var reply = _run.ResponseStream.Current;
        if (reply.KindCase != RunReply.KindOneofCase.Ready)
        {
            throw new EnvironmentSyncException($"Worker {Id} answered the environment opening with '{reply.KindCase}' instead of 'ready'.");
        }

        Slots = Math.Clamp(reply.Ready.Slots, 1, WireLimits.MaxSlots);
    }

    /// <summary>
    /// Runs the task stream, and when the executor process behind it dies while the worker lives on, counts the death
    /// for the tasks it had and opens a new stream on the same worker, which starts a new executor from its cache.
    /// </summary>
    private async Task RunStreamsAsync(Scheduler scheduler)
    {
        var idleLosses = 0;
        while (true)
        {
            string? executorLost;
            using (var stream = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
            {
                var sending = Task.Run(() => SendLoopAsync(scheduler, stream.Token));
                executorLost = await ReceiveLoopAsync(scheduler).ConfigureAwait(false);
                stream.Cancel();
                await sending.ConfigureAwait(false);
            }

            if (executorLost is null || !scheduler.OnExecutorLost(this, executorLost, out var tasks))
            {
                return;
            }

            // Deaths with tasks in flight count against those tasks; deaths with none cannot, and must not go on forever.
            idleLosses = tasks == 0 ? idleLosses + 1 : 0;
            if (idleLosses > MaxIdleExecutorLosses)
            {
                await scheduler.OnWorkerLostAsync(this, new IOException($"{executorLost}; its executors died {idleLosses} times in a row without a task running")).ConfigureAwait(false);
                return;
            }

            try
            {
                // An executor starts in well under a second; a worker that cannot start one in this time is as good as lost.
                using var timeout = new CancellationTokenSource(WorkerTimeout, _time);
                using var opening = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, timeout.Token);
                await OpenStreamAsync(opening.Token).ConfigureAwait(false);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                await scheduler.OnWorkerLostAsync(this, new IOException($"{executorLost}, and no new task stream could be opened: {ex.GetBaseException().Message}", ex)).ConfigureAwait(false);
                return;
            }

            scheduler.OnExecutorReplaced(this);
        }
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
        MarkEnded();
        _stop.Cancel();

        // Ends a blocking read of results.
        _direct?.Dispose();
        try
        {
            await _loops.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Loop failures were reported to the scheduler as the worker's loss.
        }

        _run?.Dispose();
        if (_bulk is not null)
        {
            await _bulk.DisposeAsync().ConfigureAwait(false);
        }

        _channel.Dispose();
        _stop.Dispose();
    }

    private async Task SendLoopAsync(Scheduler scheduler, CancellationToken stream)
    {
        var requests = _run?.RequestStream;
        var direct = _direct;
        try
        {
            while (await _signal.WaitAsync(stream).ConfigureAwait(false))
            {
                while (scheduler.TakeRequest(this) is { } outgoing)
                {
                    try
                    {
                        var request = outgoing.Request;
                        if (direct is not null)
                        {
                            // Blocking: the socket stays a plain blocking one (see DirectTaskStream).
                            direct.Send(request);
                            continue;
                        }

                        if (_bulk is not null && request.Tasks is { } tasks && tasks.Arguments.Length >= BulkFrame.ThresholdBytes)
                        {
                            // Large arguments go beside the control stream, as raw bytes; the batch only names them.
                            tasks.BulkId = await _bulk.SendAsync(tasks.Arguments.Memory, stream).ConfigureAwait(false);
                            tasks.Arguments = Google.Protobuf.ByteString.Empty;
                        }

                        await requests!.WriteAsync(request, stream).ConfigureAwait(false);
                    }
                    finally
                    {
                        // The arguments were copied to the socket or into gRPC's own buffer.
                        outgoing.Lease?.Release();
                    }
                }
            }
        }
        catch (Exception) when (stream.IsCancellationRequested)
        {
            // Disposed, or the stream ended and the receive loop says how.
        }
        catch (RpcException)
        {
            // The stream ended; the receive loop reads its status and says how.
        }
        catch (Exception ex) when (direct is not null && ex is IOException or System.Net.Sockets.SocketException)
        {
            // The route's connection broke (its executor died, or the whole worker did): the receive loop reads the same
            // end of the connection and asks the worker which, as for a relayed stream's status.
        }
        catch (Exception ex)
        {
            await scheduler.OnWorkerLostAsync(this, ex).ConfigureAwait(false);
        }
    }

    /// <summary>Declares the worker lost when its <see cref="HeartbeatMonitor"/> finds it silent while it should run tasks.</summary>
    private async Task WatchHeartbeatsAsync(Scheduler scheduler)
    {
        var watch = _client.Watch(new WatchRequest { IntervalMs = HeartbeatMonitor.IntervalMilliseconds }, _call.WithCancellationToken(_stop.Token));
        await _heartbeats.WatchAsync(watch, () => State == WorkerState.Ready, silent => OnSilentAsync(scheduler, silent), _stop.Token).ConfigureAwait(false);
    }

    private async Task OnSilentAsync(Scheduler scheduler, TimeSpan silent)
    {
        // Recording the loss puts its tasks back in the queue before it first waits (for a replacement).
        var lost = scheduler.OnWorkerLostAsync(this, new TimeoutException(
            $"no heartbeat for {silent.TotalSeconds:0.0} s; one is due every {HeartbeatMonitor.IntervalMilliseconds} ms, and ClusterOptions.WorkerTimeout is {WorkerTimeout.TotalSeconds:0.#} s"));

        // Its tasks now run elsewhere: a worker of this cluster's own that was only frozen must not run them too,
        // so it is stopped at once, not after its replacement started.
        _run?.Dispose();
        Endpoint.Abandon?.Invoke();
        await lost.ConfigureAwait(false);
    }

    /// <summary>Hands a result batch to the scheduler, with its results from the bulk-data connection when it names a blob.</summary>
    private async Task DeliverResultsAsync(Scheduler scheduler, ResultBatch batch)
    {
        if (batch.BulkId == 0)
        {
            scheduler.OnResults(this, batch);
            return;
        }

        if (_bulk is null)
        {
            throw new InvalidDataException($"Worker {Id} sent results as bulk blob {batch.BulkId}, but this client has no bulk-data connection to it.");
        }

        var blob = await _bulk.Results.TakeAsync(batch.BulkId, _stop.Token).ConfigureAwait(false);
        try
        {
            batch.Results = Google.Protobuf.UnsafeByteOperations.UnsafeWrap(blob.Data);
            scheduler.OnResults(this, batch);
        }
        finally
        {
            // The results were read into their calls' own objects.
            batch.Results = Google.Protobuf.ByteString.Empty;
            blob.Buffer.Release();
        }
    }

    /// <summary>
    /// Reads result batches until the stream ends; returns how the executor behind it died when that ended it, else null
    /// (disposed, or the worker was lost, which is reported here).
    /// </summary>
    private async Task<string?> ReceiveLoopAsync(Scheduler scheduler)
    {
        if (_direct is { } direct)
        {
            return await ReceiveDirectAsync(scheduler, direct).ConfigureAwait(false);
        }

        var responses = _run!.ResponseStream;
        try
        {
            while (await responses.MoveNext(_stop.Token).ConfigureAwait(false))
            {
                if (responses.Current.KindCase == RunReply.KindOneofCase.Results)
                {
                    await DeliverResultsAsync(scheduler, responses.Current.Results).ConfigureAwait(false);
                }
            }

            if (!_stop.IsCancellationRequested)
            {
                await scheduler.OnWorkerLostAsync(this, null).ConfigureAwait(false);
            }
        }
        catch (Exception) when (_stop.IsCancellationRequested)
        {
            // Disposed.
        }
        catch (RpcException ex) when (ex.Trailers.GetValue(WireLimits.ExecutorLostTrailer) is { } how)
        {
            return how;
        }
        catch (Exception ex)
        {
            await scheduler.OnWorkerLostAsync(this, ex).ConfigureAwait(false);
        }

        return null;
    }

    /// <summary>
    /// Reads result batches from a direct route until it ends, on a thread of its own; returns how the executor behind it
    /// died when that ended it (the worker says, asked after the connection broke), else null (disposed, or the worker was
    /// lost, which is reported here).
    /// </summary>
    private async Task<string?> ReceiveDirectAsync(Scheduler scheduler, DirectTaskStream direct)
    {
        Exception? error = null;
        try
        {
            await Transport.DedicatedThread.Run("coiled-remote results", () =>
            {
                while (direct.Read() is { } frame)
                {
                    try
                    {
                        if (frame.Header.KindCase == RunReply.KindOneofCase.Results)
                        {
                            var batch = frame.Header.Results;
                            batch.Results = Google.Protobuf.UnsafeByteOperations.UnsafeWrap(frame.Data);
                            scheduler.OnResults(this, batch);
                            batch.Results = Google.Protobuf.ByteString.Empty;
                        }
                    }
                    finally
                    {
                        // The results were read into their calls' own objects.
                        frame.Payload?.Release();
                    }
                }

                return true;
            }).ConfigureAwait(false);
        }
        catch (Exception) when (_stop.IsCancellationRequested)
        {
            return null;
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or InvalidDataException or ObjectDisposedException or Google.Protobuf.InvalidProtocolBufferException)
        {
            error = ex;
        }

        if (_stop.IsCancellationRequested)
        {
            return null;
        }

        // The connection ended without this client closing it: the executor behind it died, or the whole worker did.
        try
        {
            using var timeout = new CancellationTokenSource(DirectRouteTimeout, _time);
            using var asking = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, timeout.Token);
            var ended = await _client.RouteEndedAsync(new RouteEndedRequest { RouteId = direct.RouteId }, _call.WithCancellationToken(asking.Token)).ConfigureAwait(false);
            if (ended.ExecutorLost.Length > 0)
            {
                return ended.ExecutorLost;
            }
        }
        catch (Exception) when (_stop.IsCancellationRequested)
        {
            return null;
        }
        catch (RpcException ex)
        {
            error ??= ex;
        }

        await scheduler.OnWorkerLostAsync(this, error).ConfigureAwait(false);
        return null;
    }
}
