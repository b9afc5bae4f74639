using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Coiled.Remote.Synchronization;
using Coiled.Remote.Telemetry;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Worker;

/// <summary>The worker's gRPC surface: handshake, environment synchronization, the task stream, shutdown.</summary>
internal sealed class WorkerService(WorkerRuntime state, ILogger<WorkerService> logger) : Transport.Protocol.Worker.WorkerBase
{
    public override Task<HelloReply> Hello(HelloRequest request, ServerCallContext context)
    {
        if (request.ProtocolVersion != ProtocolVersion.Current)
        {
            throw new RpcException(new Status(
                StatusCode.FailedPrecondition,
                $"The client speaks Coiled.Remote protocol {request.ProtocolVersion}; this worker speaks {ProtocolVersion.Current}. " +
                "Use the same Coiled.Remote version on the caller and the workers."));
        }

        return Task.FromResult(new HelloReply
        {
            ProtocolVersion = ProtocolVersion.Current,
            WorkerId = state.WorkerId,
            Cores = state.Options.Slots,
            MemoryBytes = state.Options.ReportedMachineMemoryBytes,
            ProcessId = Environment.ProcessId,
            LibraryVersion = typeof(WorkerService).Assembly.GetName().Version?.ToString() ?? "0.0.0",
            OsDescription = RuntimeInformation.OSDescription,
            Architecture = RuntimeInformation.ProcessArchitecture.ToString(),
            RuntimeIdentifier = RuntimePlatform.Current.RuntimeIdentifier,
            BulkPort = state.BulkPort,
            BulkLocalName = state.BulkLocalName ?? string.Empty,
            DirectRoutes = state.Routes is not null,
        });
    }

    public override Task<SyncPlanReply> PlanSync(SyncPlanRequest request, ServerCallContext context)
    {
        var plan = state.Environments.Plan(request.Manifest);

        // A client is about to open an environment: unless an executor runs it already, the spare executor boots while its files upload.
        state.Executors?.PrepareSpare(plan.EnvironmentId);
        return Task.FromResult(plan);
    }

    public override Task<UploadReply> Upload(IAsyncStreamReader<BlobChunk> requestStream, ServerCallContext context)
        => state.Blobs.ReceiveAsync(requestStream, context.CancellationToken);

    public override Task<UploadReply> UploadBlobs(BlobBatch request, ServerCallContext context)
        => state.Blobs.ReceiveAsync(new BatchReader(request), context.CancellationToken);

    public override Task<UploadReply> Fetch(FetchRequest request, ServerCallContext context)
        => request.SharedValues
            ? state.StagedValues.FetchAsync(request, BlobFetcher.SharedHttp, context.CancellationToken)
            : new BlobFetcher(state.Blobs, BlobFetcher.SharedHttp, state.Options.TimeProvider).FetchAsync(request, context.CancellationToken);

    public override Task<ShutdownReply> Shutdown(ShutdownRequest request, ServerCallContext context)
    {
        logger.ShutdownRequested(state.WorkerId, request.Reason);
        state.RequestStop("asked by the client: " + request.Reason);
        return Task.FromResult(new ShutdownReply());
    }

    public override async Task Run(IAsyncStreamReader<RunRequest> requestStream, IServerStreamWriter<RunReply> responseStream, ServerCallContext context)
    {
        var aborted = context.CancellationToken;
        if (!await requestStream.MoveNext(aborted).ConfigureAwait(false))
        {
            return;
        }

        if (requestStream.Current.KindCase != RunRequest.KindOneofCase.Open)
        {
            throw new RpcException(new Status(
                StatusCode.FailedPrecondition,
                $"The first message of Run must be 'open' (which environment to run in), not '{requestStream.Current.KindCase}'."));
        }

        RefuseWhenInterrupted();
        var open = requestStream.Current.Open;
        if (state.Executors is { } executors)
        {
            await RunInExecutorAsync(executors, open, requestStream, responseStream, aborted).ConfigureAwait(false);
        }
        else
        {
            await RunHereAsync(open, requestStream, responseStream, aborted).ConfigureAwait(false);
        }
    }

    /// <summary>Finds or starts the executor of an environment and issues a ticket for a direct route to it.</summary>
    public override async Task<RouteTicket> OpenRoute(OpenEnvironment request, ServerCallContext context)
    {
        if (state.Routes is not { } routes || state.Executors is not { } executors)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"Worker {state.WorkerId} offers no direct routes; open a Run stream instead."));
        }

        RefuseWhenInterrupted();

        var lease = await LeaseExecutorAsync(executors, request, context.CancellationToken).ConfigureAwait(false);
        logger.EnvironmentOpenedForDirectRoute(state.WorkerId, request.EnvironmentId, lease.Executor.ProcessId);
        return routes.Issue(lease, new Ready { EnvironmentId = request.EnvironmentId, Slots = state.Options.Slots });
    }

    /// <summary>How the executor behind a direct route that broke ended.</summary>
    public override async Task<RouteEndedReply> RouteEnded(RouteEndedRequest request, ServerCallContext context)
        => new() { ExecutorLost = state.Routes is { } routes ? Printable(await routes.EndedAsync(request.RouteId.Span).ConfigureAwait(false)) : string.Empty };

    public override Task Watch(WatchRequest request, IServerStreamWriter<WorkerStats> responseStream, ServerCallContext context)
        => WorkerStatsSender.SendAsync(
            responseStream, request.IntervalMs, state.Executors is { } executors ? executors.Usage : null, state.Options.ReportedMachineMemoryBytes, state.Notices, context.CancellationToken);

    /// <summary>A machine that its cloud is reclaiming takes no new task stream: its tasks would be lost with it.</summary>
    private void RefuseWhenInterrupted()
    {
        if (state.Notices.Interruption is { } notice)
        {
            throw new RpcException(new Status(
                StatusCode.Unavailable,
                $"Worker {state.WorkerId} opens no new task stream: its machine's cloud announced it will {notice.Action} it at {notice.TimeText}. Use another worker."));
        }
    }

    /// <summary>
    /// Runs a stream's tasks in this process (in-process workers), in the caller's own code or a synchronized copy of it,
    /// with the process's working directory and variables as they are: a worker inside another program never changes them.
    /// </summary>
    private async Task RunHereAsync(OpenEnvironment open, IAsyncStreamReader<RunRequest> requestStream, IServerStreamWriter<RunReply> responseStream, CancellationToken aborted)
    {
        var environment = state.Environments.Open(open.EnvironmentId);
        using var connection = state.Activity.ClientConnected();
        await responseStream.WriteAsync(new RunReply { Ready = new Ready { EnvironmentId = environment.Id, Slots = state.Options.Slots } }, aborted).ConfigureAwait(false);
        logger.EnvironmentOpened(state.WorkerId, environment.Id);

        var executor = new TaskExecutor(state.Options.Slots, state.Activity, state.Options.Limits, state.Options.TimeProvider, recycle: null);
        await using (executor.ConfigureAwait(false))
        {
            var pump = PumpResultsAsync(executor, responseStream, open.ResultChannel, aborted);
            try
            {
                while (await requestStream.MoveNext(aborted).ConfigureAwait(false))
                {
                    var request = requestStream.Current;
                    switch (request.KindCase)
                    {
                        case RunRequest.KindOneofCase.Tasks when request.Tasks.BulkId != 0:
                            var payload = await state.Bulk.TakeAsync(request.Tasks.BulkId, aborted).ConfigureAwait(false);
                            state.CountBulkArguments();
                            executor.Enqueue(environment, request.Tasks, payload.Data, payload.Buffer);
                            break;
                        case RunRequest.KindOneofCase.Tasks:
                            executor.Enqueue(environment, request.Tasks, request.Tasks.Arguments.Memory);
                            break;
                        case RunRequest.KindOneofCase.Share when request.Share.Staged:
                            var (staged, buffer) = StagedValue.Read(state.StagedValues.Store.Folder, request.Share.Sha256.Span);
                            executor.Share(request.Share.Sha256.Span, staged, buffer);
                            break;
                        case RunRequest.KindOneofCase.Share when request.Share.BulkId != 0:
                            var value = await state.Bulk.TakeAsync(request.Share.BulkId, aborted).ConfigureAwait(false);
                            state.CountBulkArguments();
                            executor.Share(request.Share.Sha256.Span, value.Data, value.Buffer);
                            break;
                        case RunRequest.KindOneofCase.Share:
                            executor.Share(request.Share.Sha256.Span, request.Share.Value.Memory);
                            break;
                        case RunRequest.KindOneofCase.Release:
                            executor.Release(request.Release.Sha256);
                            break;
                        case RunRequest.KindOneofCase.Cancel:
                            executor.Cancel(request.Cancel.TaskIds);
                            break;
                        case RunRequest.KindOneofCase.ReturnTasks:
                            executor.Return(request.ReturnTasks.TaskIds);
                            break;
                        default:
                            throw UnexpectedRequest(request);
                    }
                }

                executor.Complete();
            }
            catch
            {
                executor.Abort();
                throw;
            }
            finally
            {
                await pump.ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Relays a stream to the executor process of its environment and variables (started if none runs): task batches
    /// and cancels there, result batches back, payloads as they are. When the executor dies, the stream ends with
    /// <see cref="StatusCode.Unavailable"/> and the <see cref="WireLimits.ExecutorLostTrailer"/> trailer saying how, and
    /// the client opens another stream, which starts a fresh executor from the cached files.
    /// </summary>
    private async Task RunInExecutorAsync(
        Executors.ExecutorSupervisor executors, OpenEnvironment open, IAsyncStreamReader<RunRequest> requestStream, IServerStreamWriter<RunReply> responseStream, CancellationToken aborted)
    {
        var lease = await LeaseExecutorAsync(executors, open, aborted).ConfigureAwait(false);
        using (lease)
        using (state.Activity.ClientConnected())
        using (var relay = CancellationTokenSource.CreateLinkedTokenSource(aborted))
        {
            lease.Link.SendRelayedMode();
            await responseStream.WriteAsync(new RunReply { Ready = new Ready { EnvironmentId = open.EnvironmentId, Slots = state.Options.Slots } }, aborted).ConfigureAwait(false);
            logger.EnvironmentOpenedInExecutor(state.WorkerId, open.EnvironmentId, lease.Executor.ProcessId);
            // Tasks forwarded whose results the executor has not sent back, held within the client's credit window.
            var outstanding = new TaskWindow();
            var closing = new StrongBox<bool>();
            var results = RelayResultsAsync(lease, responseStream, open.ResultChannel, outstanding, relay, closing, aborted);
            var linkBroken = false;
            void Send(RunRequest request, ReadOnlySpan<byte> payload)
            {
                try
                {
                    // Blocking, on a Unix socket whose other end reads all the time: a frame is taken as fast as it is copied.
                    lease.Link.Write(request, payload);
                }
                catch (Exception ex) when (ex is System.Net.Sockets.SocketException or IOException or ObjectDisposedException)
                {
                    linkBroken = true;
                    throw;
                }
            }

            // A request whose payload came on the bulk-data connection: forwarded with that payload, then the payload is given back.
            async Task SendFromBulkAsync(RunRequest request, ulong bulkId, int tasks)
            {
                var payload = await state.Bulk.TakeAsync(bulkId, relay.Token).ConfigureAwait(false);
                try
                {
                    state.CountBulkArguments();
                    if (tasks > 0)
                    {
                        Forwarded(outstanding, tasks);
                    }

                    Send(request, payload.Data.Span);
                }
                finally
                {
                    payload.Buffer.Release();
                }
            }

            try
            {
                while (await requestStream.MoveNext(relay.Token).ConfigureAwait(false))
                {
                    var request = requestStream.Current;
                    switch (request.KindCase)
                    {
                        case RunRequest.KindOneofCase.Tasks when request.Tasks.BulkId != 0:
                            var tasksBulkId = request.Tasks.BulkId;
                            request.Tasks.BulkId = 0;
                            await SendFromBulkAsync(request, tasksBulkId, request.Tasks.TaskIds.Count).ConfigureAwait(false);
                            break;
                        case RunRequest.KindOneofCase.Tasks:
                            var arguments = request.Tasks.Arguments;
                            request.Tasks.Arguments = ByteString.Empty;
                            Forwarded(outstanding, request.Tasks.TaskIds.Count);
                            Send(request, arguments.Span);
                            break;
                        case RunRequest.KindOneofCase.Share when request.Share.Staged:
                            // The executor reads the bytes from the blob store (see StagedValue).
                            request.Share.Value = ByteString.Empty;
                            Send(request, []);
                            break;
                        case RunRequest.KindOneofCase.Share when request.Share.BulkId != 0:
                            var shareBulkId = request.Share.BulkId;
                            request.Share.BulkId = 0;
                            await SendFromBulkAsync(request, shareBulkId, tasks: 0).ConfigureAwait(false);
                            break;
                        case RunRequest.KindOneofCase.Share:
                            var value = request.Share.Value;
                            request.Share.Value = ByteString.Empty;
                            Send(request, value.Span);
                            break;
                        case RunRequest.KindOneofCase.Cancel or RunRequest.KindOneofCase.Release or RunRequest.KindOneofCase.ReturnTasks:
                            Send(request, []);
                            break;
                        default:
                            throw UnexpectedRequest(request);
                    }
                }

                lease.Link.CompleteWrites();
            }
            catch (Exception) when (!aborted.IsCancellationRequested && (relay.IsCancellationRequested || linkBroken))
            {
                // The executor is gone (the relay of its results saw its connection end, or writing to it failed); that relay says how.
            }
            catch
            {
                // The client is gone or broke the protocol: the executor drops the stream's tasks.
                closing.Value = true;
                TryAbort(lease.Link);
                lease.Dispose();
                throw;
            }
            finally
            {
                try
                {
                    await results.ConfigureAwait(false);
                }
                finally
                {
                    state.Activity.TasksReturned(outstanding.SettleAll());
                }
            }
        }
    }

    /// <summary>Admits a batch into the stream's window (or ends the stream, see <see cref="TaskWindow.Admit"/>) before it goes to the executor.</summary>
    /// <summary>The executor of <paramref name="open"/>'s environment, started if none runs it, held for one stream.</summary>
    private async Task<Executors.ExecutorLease> LeaseExecutorAsync(Executors.ExecutorSupervisor executors, OpenEnvironment open, CancellationToken aborted)
    {
        var (directory, entryAssembly) = state.Environments.Locate(open.EnvironmentId);
        var environment = new Executors.ExecutorEnvironment(open.EnvironmentId, directory, entryAssembly, open.EnvironmentVariables);
        try
        {
            return await executors.OpenAsync(environment, aborted).ConfigureAwait(false);
        }
        catch (Executors.ExecutorStartException ex)
        {
            throw new RpcException(new Status(
                StatusCode.Unavailable,
                $"Worker {state.WorkerId} could not start the executor process of environment {open.EnvironmentId[..12]}: {ex.Message}"));
        }
    }

    /// <summary>A header's value is printable ASCII; what a crashing process wrote may not be.</summary>
    private static string Printable(string text) => new([.. text.Select(c => c is >= ' ' and <= '~' ? c : '?')]);

    private void Forwarded(TaskWindow outstanding, int tasks)
    {
        outstanding.Admit(tasks);
        state.Activity.TasksForwarded(tasks);
    }

    /// <summary>Tells the executor that the client is gone, so that it drops the stream's queue and cancels what runs.</summary>
    private static void TryAbort(Executors.ExecutorLink link)
    {
        try
        {
            link.Write(new RunRequest(), []);
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or IOException or ObjectDisposedException)
        {
            // The executor is gone, or its connection is about to close, which tells it the same.
        }
    }

    /// <summary>
    /// Passes the executor's result batches on to the client until the executor says every outcome was sent; when the
    /// connection ends without that, the executor died, and the stream ends saying how (see <see cref="RunInExecutorAsync"/>).
    /// </summary>
    private async Task RelayResultsAsync(
        Executors.ExecutorLease lease, IServerStreamWriter<RunReply> responseStream, ulong resultChannel, TaskWindow outstanding, CancellationTokenSource relay,
        StrongBox<bool> closing, CancellationToken aborted)
    {
        try
        {
            var everyOutcomeSent = await DedicatedThread.Run("coiled-remote executor relay", () =>
            {
                while (lease.Link.Read(RunReply.Parser) is { } frame)
                {
                    try
                    {
                        if (frame.Header.KindCase != RunReply.KindOneofCase.Results)
                        {
                            // Every outcome was sent.
                            return true;
                        }

                        var batch = frame.Header.Results;
                        var count = batch.TaskIds.Count + batch.Failures.Count;
                        outstanding.Settle(count);
                        state.Activity.TasksReturned(count);
                        if (!aborted.IsCancellationRequested)
                        {
                            // On this thread: the write is mostly a copy into the connection's buffer.
                            SendResultsAsync(batch, frame.Data, responseStream, resultChannel, aborted).AsTask().GetAwaiter().GetResult();
                        }
                    }
                    finally
                    {
                        frame.Payload?.Release();
                    }
                }

                return false;
            }).ConfigureAwait(false);
            if (everyOutcomeSent)
            {
                return;
            }
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or System.Net.Sockets.SocketException or ObjectDisposedException or InvalidProtocolBufferException)
        {
            // The connection broke: the executor died, unless the client is gone and its stream closed the connection.
        }
        catch (Exception ex) when (aborted.IsCancellationRequested && ex is OperationCanceledException or InvalidOperationException)
        {
            // The client is gone; its tasks are requeued by its scheduler, not reported here.
            return;
        }

        if (aborted.IsCancellationRequested || Volatile.Read(ref closing.Value))
        {
            return;
        }

        relay.Cancel();
        var executor = lease.Executor;
        string how;
        try
        {
            how = await executor.Exited.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            how = "it closed its connection to the daemon and still runs";
        }

        var message = $"The executor process of environment {executor.EnvironmentLabel} (process {executor.ProcessId}) on worker {state.WorkerId} ended: {how}. " +
            "Its running tasks count it as a worker death (ClusterOptions.MaxWorkerDeaths); the worker starts a new executor for the next stream.";
        logger.ExecutorEndedUnasked(state.WorkerId, message);

        var trailer = Printable($"its executor (process {executor.ProcessId}) ended: {how}");
        throw new RpcException(new Status(StatusCode.Unavailable, message), new Metadata { { WireLimits.ExecutorLostTrailer, trailer } });
    }

    private static RpcException UnexpectedRequest(RunRequest request) => request.KindCase == RunRequest.KindOneofCase.Open
        ? new RpcException(new Status(StatusCode.FailedPrecondition, "This Run stream already has an open environment; open another stream for another environment."))
        : new RpcException(new Status(StatusCode.InvalidArgument, "A Run message must carry 'tasks', 'cancel', 'share' or 'release'."));

    /// <summary>Sends the outcomes of an in-process executor back in batches as they come.</summary>
    private async Task PumpResultsAsync(TaskExecutor executor, IServerStreamWriter<RunReply> responseStream, ulong resultChannel, CancellationToken aborted)
    {
        try
        {
            await new ResultBatcher(executor).PumpAsync((batch, results) => SendResultsAsync(batch, results, responseStream, resultChannel, aborted)).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The client is gone; its tasks are requeued by its scheduler, not reported here.
        }
        catch (InvalidOperationException) when (aborted.IsCancellationRequested)
        {
            // Writing after the call ended; same as above.
        }
    }

    /// <summary>
    /// Sends one result batch to the client: its results as a blob on the client's bulk-data connection
    /// (<paramref name="resultChannel"/>) when they reach the bulk-data threshold and the client has one open, else in the batch.
    /// </summary>
    private async ValueTask SendResultsAsync(ResultBatch batch, ReadOnlyMemory<byte> results, IServerStreamWriter<RunReply> responseStream, ulong resultChannel, CancellationToken aborted)
    {
        if (results.Length < BulkFrame.ThresholdBytes || !await TrySendAsBlobAsync(batch, results, resultChannel, aborted).ConfigureAwait(false))
        {
            // Serialized into gRPC's own buffer before the write completes, and the caller keeps the bytes until then.
            batch.Results = UnsafeByteOperations.UnsafeWrap(results);
        }

        if (!aborted.IsCancellationRequested)
        {
            await responseStream.WriteAsync(new RunReply { Results = batch }, aborted).ConfigureAwait(false);
        }
    }

    /// <summary>Writes a batch's results to the client's bulk-data connection; false (send them in the batch) when it has none or it failed.</summary>
    private async Task<bool> TrySendAsBlobAsync(ResultBatch batch, ReadOnlyMemory<byte> results, ulong resultChannel, CancellationToken aborted)
    {
        if (resultChannel == 0 || !state.ResultChannels.TryGetValue(resultChannel, out var sink))
        {
            return false;
        }

        var id = BulkFrame.NewId();
        try
        {
            await sink.WriteAsync(id, results, aborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or System.Net.Sockets.SocketException or OperationCanceledException && !aborted.IsCancellationRequested)
        {
            logger.ResultsInTaskStream(state.WorkerId, results.Length, ex.Message);
            return false;
        }

        batch.BulkId = id;
        state.CountBulkResults();
        return true;
    }

    /// <summary>The blobs of an <c>UploadBlobs</c> call, read as the chunks of an <c>Upload</c> stream.</summary>
    private sealed class BatchReader(BlobBatch batch) : IAsyncStreamReader<BlobChunk>
    {
        private int _next;

        public BlobChunk Current { get; private set; } = null!;

        public Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_next >= batch.Blobs.Count)
            {
                return Task.FromResult(false);
            }

            Current = batch.Blobs[_next++];
            return Task.FromResult(true);
        }
    }
}
