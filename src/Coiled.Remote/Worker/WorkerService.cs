using System.Buffers;
using System.Runtime.InteropServices;
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
    private const int MaxResultsPerBatch = 8192;
    private const int ResultBatchTargetBytes = 1024 * 1024;

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
            MemoryBytes = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes,
            ProcessId = Environment.ProcessId,
            LibraryVersion = typeof(WorkerService).Assembly.GetName().Version?.ToString() ?? "0.0.0",
            OsDescription = RuntimeInformation.OSDescription,
            Architecture = RuntimeInformation.ProcessArchitecture.ToString(),
            BulkPort = state.BulkPort,
            BulkLocalName = state.BulkLocalName ?? string.Empty,
        });
    }

    public override Task<SyncPlanReply> PlanSync(SyncPlanRequest request, ServerCallContext context)
        => Task.FromResult(state.Environments.Plan(request.Manifest));

    public override Task<UploadReply> Upload(IAsyncStreamReader<BlobChunk> requestStream, ServerCallContext context)
        => state.Blobs.ReceiveAsync(requestStream, context.CancellationToken);

    public override Task<ShutdownReply> Shutdown(ShutdownRequest request, ServerCallContext context)
    {
        logger.LogInformation("Worker {WorkerId} asked to shut down: {Reason}", state.WorkerId, request.Reason);
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

        var open = requestStream.Current.Open;
        var environment = state.Environments.Open(open.EnvironmentId);
        foreach (var (name, value) in open.EnvironmentVariables)
        {
            Environment.SetEnvironmentVariable(name, value);
        }

        if (environment.Directory is not null && state.Options.SetCurrentDirectory)
        {
            // Relative paths in [Remote] methods resolve against the application's own files, as they do on the caller.
            Environment.CurrentDirectory = environment.Directory;
        }

        using var connection = state.Activity.ClientConnected();
        await responseStream.WriteAsync(new RunReply { Ready = new Ready { EnvironmentId = environment.Id, Slots = state.Options.Slots } }, aborted).ConfigureAwait(false);
        logger.LogInformation("Worker {WorkerId} opened environment {EnvironmentId}", state.WorkerId, environment.Id);

        var executor = new TaskExecutor(state.Options.Slots, state.Activity, state.Options, reason =>
        {
            logger.LogWarning("Worker {WorkerId} recycles its process: {Reason}", state.WorkerId, reason);

            // Give the result stream a moment to carry the timeout to the client before the process goes.
            _ = Task.Delay(TimeSpan.FromMilliseconds(500)).ContinueWith(_ => state.RequestRecycle(reason), TaskScheduler.Default);
        });
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
                            var blob = await state.Bulk.TakeAsync(request.Tasks.BulkId, aborted).ConfigureAwait(false);
                            state.CountBulkArguments();
                            executor.Enqueue(environment, request.Tasks, blob.Data, blob.Buffer);
                            break;
                        case RunRequest.KindOneofCase.Tasks:
                            executor.Enqueue(environment, request.Tasks, request.Tasks.Arguments.Memory);
                            break;
                        case RunRequest.KindOneofCase.Cancel:
                            executor.Cancel(request.Cancel.TaskIds);
                            break;
                        case RunRequest.KindOneofCase.Open:
                            throw new RpcException(new Status(StatusCode.FailedPrecondition, "This Run stream already has an open environment; open another stream for another environment."));
                        default:
                            throw new RpcException(new Status(StatusCode.InvalidArgument, "A Run message must carry 'tasks' or 'cancel'."));
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

    public override Task Watch(WatchRequest request, IServerStreamWriter<WorkerStats> responseStream, ServerCallContext context)
        => WorkerStatsReader.SendAsync(responseStream, request.IntervalMs, context.CancellationToken);

    /// <summary>
    /// Sends the executor's outcomes back in batches; a batch whose results reach the bulk-data threshold goes as a blob
    /// on the client's bulk-data connection (<paramref name="resultChannel"/>), when the client has one open.
    /// </summary>
    private async Task PumpResultsAsync(TaskExecutor executor, IServerStreamWriter<RunReply> responseStream, ulong resultChannel, CancellationToken aborted)
    {
        var outcomes = executor.Outcomes;
        var results = new GrowableBuffer(64 * 1024);
        try
        {
            while (await outcomes.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
            {
                var batch = new ResultBatch();
                ulong elapsed = 0;
                var count = 0;
                TaskOutcome? alone = null;
                while (count < MaxResultsPerBatch && results.WrittenCount < ResultBatchTargetBytes && outcomes.TryRead(out var outcome))
                {
                    count++;
                    elapsed += (ulong)outcome.ElapsedNanoseconds;
                    if (outcome.Failure is { } failure)
                    {
                        batch.Failures.Add(failure);
                    }
                    else if (outcome.Lease is not null && results.WrittenCount == 0)
                    {
                        // A large result goes alone, straight from the buffer it was serialized into.
                        batch.TaskIds.Add(outcome.TaskId);
                        alone = outcome;
                        break;
                    }
                    else
                    {
                        batch.TaskIds.Add(outcome.TaskId);
                        results.Write(outcome.Result.Span);
                        outcome.Lease?.Release();
                    }
                }

                var bytes = alone?.Result ?? results.WrittenMemory;
                try
                {
                    if (bytes.Length < BulkFrame.ThresholdBytes || !await TrySendAsBlobAsync(batch, bytes, resultChannel, aborted).ConfigureAwait(false))
                    {
                        // Written synchronously into gRPC's own buffer before WriteAsync returns.
                        batch.Results = alone is null ? ByteString.CopyFrom(bytes.Span) : UnsafeByteOperations.UnsafeWrap(bytes);
                    }

                    batch.ExecutionNanoseconds = elapsed;
                    results.ResetWrittenCount();
                    if (!aborted.IsCancellationRequested)
                    {
                        await responseStream.WriteAsync(new RunReply { Results = batch }, aborted).ConfigureAwait(false);
                    }
                }
                finally
                {
                    alone?.Lease?.Release();
                }
            }
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
            logger.LogDebug("Worker {WorkerId} sends {Bytes} bytes of results in the task stream: the bulk-data connection failed ({Reason})", state.WorkerId, results.Length, ex.Message);
            return false;
        }

        batch.BulkId = id;
        state.CountBulkResults();
        return true;
    }
}
