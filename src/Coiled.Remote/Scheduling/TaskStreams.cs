using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Grpc.Core;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// A worker's task stream and the ones that replace it: opens the stream in the worker's environment (relayed through
/// the worker's <c>Run</c> call, or on a direct route to the executor), runs it (<see cref="TaskStreamLoop"/>), and when
/// the executor process behind it dies while the worker lives on, opens a new one on the same worker.
/// </summary>
internal sealed class TaskStreams
{
    /// <summary>Executor deaths in a row with no task in flight after which the worker counts as lost: something other than a task kills them.</summary>
    private const int MaxIdleExecutorLosses = 3;

    /// <summary>The longest a direct route may take to connect and open, once the worker issued its ticket.</summary>
    internal static readonly TimeSpan DirectRouteTimeout = TimeSpan.FromSeconds(30);

    private readonly ITaskWorker _worker;
    private readonly WorkerEndpoint _endpoint;
    private readonly Transport.Protocol.Worker.WorkerClient _client;
    private readonly CallOptions _call;
    private readonly bool _directRoutes;
    private readonly BulkChannel? _bulk;
    private readonly TimeSpan _workerTimeout;
    private readonly TimeProvider _time;
    private readonly CancellationToken _stop;
    private readonly AsyncSignal _signal = new();
    private AsyncDuplexStreamingCall<RunRequest, RunReply>? _run;
    private DirectTaskStream? _direct;
    private OpenEnvironment? _open;

    /// <param name="worker">The worker the streams run on, as the scheduler knows it.</param>
    /// <param name="endpoint">Where the worker is reached.</param>
    /// <param name="client">The worker's gRPC client.</param>
    /// <param name="call">The options of every call to the worker (its token, its deadline).</param>
    /// <param name="directRoutes">Whether the worker serves task streams on direct routes (<see cref="HelloReply.DirectRoutes"/>).</param>
    /// <param name="slots">Tasks the worker runs at once until a stream says otherwise.</param>
    /// <param name="bulk">The bulk-data connection for large arguments and results; null for none.</param>
    /// <param name="workerTimeout">How long the worker may take to open a new stream after its executor died.</param>
    /// <param name="time">The clock the timeouts are timed on.</param>
    /// <param name="stop">Cancelled when the connection is disposed.</param>
    public TaskStreams(
        ITaskWorker worker, WorkerEndpoint endpoint, Transport.Protocol.Worker.WorkerClient client, CallOptions call, bool directRoutes,
        int slots, BulkChannel? bulk, TimeSpan workerTimeout, TimeProvider time, CancellationToken stop)
    {
        _worker = worker;
        _endpoint = endpoint;
        _client = client;
        _call = call;
        _directRoutes = directRoutes;
        Slots = slots;
        _bulk = bulk;
        _workerTimeout = workerTimeout;
        _time = time;
        _stop = stop;
    }

    /// <summary>Tasks the worker runs at once, as the latest stream's executor said.</summary>
    public int Slots { get; private set; }

    /// <summary>Tells the send loop that the scheduler may have something for the worker.</summary>
    public void Wake() => _signal.Set();

    /// <summary>Opens a task stream in <paramref name="open"/>'s environment and waits until the worker says it is ready.</summary>
    public Task OpenAsync(OpenEnvironment open, CancellationToken cancellationToken)
    {
        _open = open;
        return OpenStreamAsync(cancellationToken);
    }

    /// <summary>
    /// Runs the task stream for <paramref name="scheduler"/>, and when the executor process behind it dies while the worker
    /// lives on, counts the death for the tasks it had and opens a new stream on the same worker, which starts a new
    /// executor from its cache.
    /// </summary>
    public async Task RunAsync(Scheduler scheduler)
    {
        var idleLosses = 0;
        while (true)
        {
            var loop = new TaskStreamLoop(scheduler, _worker, _run, _direct, _bulk, _signal, _client, _call, _time, _stop);
            var executorLost = await loop.RunAsync().ConfigureAwait(false);
            if (executorLost is null || !scheduler.OnExecutorLost(_worker, executorLost, out var tasks))
            {
                return;
            }

            // Deaths with tasks in flight count against those tasks; deaths with none cannot, and must not go on forever.
            idleLosses = tasks == 0 ? idleLosses + 1 : 0;
            if (idleLosses > MaxIdleExecutorLosses)
            {
                await scheduler.OnWorkerLostAsync(_worker, new IOException($"{executorLost}; its executors died {idleLosses} times in a row without a task running")).ConfigureAwait(false);
                return;
            }

            try
            {
                // An executor starts in well under a second; a worker that cannot start one in this time is as good as lost.
                using var timeout = new CancellationTokenSource(_workerTimeout, _time);
                using var opening = CancellationTokenSource.CreateLinkedTokenSource(_stop, timeout.Token);
                await OpenStreamAsync(opening.Token).ConfigureAwait(false);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                await scheduler.OnWorkerLostAsync(_worker, new IOException($"{executorLost}, and no new task stream could be opened: {ex.GetBaseException().Message}", ex)).ConfigureAwait(false);
                return;
            }

            scheduler.OnExecutorReplaced(_worker);
        }
    }

    /// <summary>Ends a blocking read of results on a direct route.</summary>
    public void CloseDirect() => _direct?.Dispose();

    /// <summary>Ends the relayed task stream's call.</summary>
    public void CloseRelayed() => _run?.Dispose();

    /// <summary>Opens a task stream with what <see cref="OpenAsync"/> was given and waits until the worker says it is ready.</summary>
    private async Task OpenStreamAsync(CancellationToken cancellationToken)
    {
        var environmentId = _open!.EnvironmentId;
        if (_directRoutes)
        {
            // The executor serves the stream itself, on a connection of its own: no process in between.
            var ticket = await _client.OpenRouteAsync(_open, _call.WithCancellationToken(cancellationToken)).ConfigureAwait(false);
            _direct?.Dispose();
            (_direct, var ready) = await DirectTaskStream.OpenAsync(_endpoint, ticket, DirectRouteTimeout, cancellationToken).ConfigureAwait(false);
            if (_stop.IsCancellationRequested)
            {
                // Disposed meanwhile, after it closed the stream it knew.
                _direct.Dispose();
            }

            Slots = Math.Clamp(ready.Slots, 1, WireLimits.MaxSlots);
            return;
        }

        _run?.Dispose();
        _run = _client.Run(_call.WithCancellationToken(_stop));
        await _run.RequestStream.WriteAsync(new RunRequest { Open = _open }, cancellationToken).ConfigureAwait(false);
        if (!await _run.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            throw new EnvironmentSyncException($"Worker {_worker.Id} at {_endpoint.Address} closed the task stream instead of opening environment {environmentId}.");
        }

        var reply = _run.ResponseStream.Current;
        if (reply.KindCase != RunReply.KindOneofCase.Ready)
        {
            throw new EnvironmentSyncException($"Worker {_worker.Id} answered the environment opening with '{reply.KindCase}' instead of 'ready'.");
        }

        Slots = Math.Clamp(reply.Ready.Slots, 1, WireLimits.MaxSlots);
    }
}
