using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Grpc.Core;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// One task stream's traffic, from its opening until it ends: a loop that sends the scheduler's batches to the worker,
/// large arguments on the bulk-data connection, and a loop that reads the worker's results and hands them to the
/// scheduler. The stream is either relayed (the worker's <c>Run</c> call) or a <see cref="DirectTaskStream"/>.
/// </summary>
internal sealed class TaskStreamLoop
{
    private readonly Scheduler _scheduler;
    private readonly ITaskWorker _worker;
    private readonly AsyncDuplexStreamingCall<RunRequest, RunReply>? _run;
    private readonly DirectTaskStream? _direct;
    private readonly BulkChannel? _bulk;
    private readonly AsyncSignal _signal;
    private readonly Transport.Protocol.Worker.WorkerClient _client;
    private readonly CallOptions _call;
    private readonly TimeProvider _time;
    private readonly CancellationToken _stop;
    private readonly Sharing.ShareStaging? _staging;

    /// <param name="scheduler">The scheduler that took the worker (<see cref="Scheduler.AddWorker"/>).</param>
    /// <param name="worker">The worker, as the scheduler knows it.</param>
    /// <param name="run">The relayed task stream; null when <paramref name="direct"/> is the stream.</param>
    /// <param name="direct">The task stream on a direct route; null when <paramref name="run"/> is the stream.</param>
    /// <param name="bulk">The bulk-data connection for large arguments and results; null for none.</param>
    /// <param name="signal">Set when the scheduler may have something for the worker.</param>
    /// <param name="client">The worker's gRPC client, to ask how a direct route ended.</param>
    /// <param name="call">The options of every call to the worker.</param>
    /// <param name="time">The clock the timeouts are timed on.</param>
    /// <param name="stop">Cancelled when the connection is disposed.</param>
    public TaskStreamLoop(
        Scheduler scheduler, ITaskWorker worker, AsyncDuplexStreamingCall<RunRequest, RunReply>? run, DirectTaskStream? direct, BulkChannel? bulk,
        AsyncSignal signal, Transport.Protocol.Worker.WorkerClient client, CallOptions call, TimeProvider time, CancellationToken stop)
    {
        _scheduler = scheduler;
        _worker = worker;
        _run = run;
        _direct = direct;
        _bulk = bulk;
        _signal = signal;
        _client = client;
        _call = call;
        _time = time;
        _stop = stop;
        _staging = scheduler.Staging is { } staging ? new Sharing.ShareStaging(staging, client, call) : null;
    }

    /// <summary>
    /// Sends batches and reads results until the stream ends; returns how the executor behind it died when that ended it,
    /// else null (disposed, or the worker was lost, which is reported to the scheduler).
    /// </summary>
    public async Task<string?> RunAsync()
    {
        using var stream = CancellationTokenSource.CreateLinkedTokenSource(_stop);
        var sending = Task.Run(() => SendLoopAsync(stream.Token));
        var executorLost = await ReceiveLoopAsync().ConfigureAwait(false);
        stream.Cancel();
        await sending.ConfigureAwait(false);
        return executorLost;
    }

    private async Task SendLoopAsync(CancellationToken stream)
    {
        var requests = _run?.RequestStream;
        var direct = _direct;
        try
        {
            while (await _signal.WaitAsync(stream).ConfigureAwait(false))
            {
                while (_scheduler.TakeRequest(_worker) is { } outgoing)
                {
                    try
                    {
                        foreach (var before in outgoing.Before ?? [])
                        {
                            await SendAsync(before, direct, requests, stream).ConfigureAwait(false);
                        }

                        await SendAsync(outgoing, direct, requests, stream).ConfigureAwait(false);
                    }
                    finally
                    {
                        // The arguments and shared values were copied to the socket or into gRPC's own buffer.
                        foreach (var before in outgoing.Before ?? [])
                        {
                            before.Lease?.Release();
                        }

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
            await _scheduler.OnWorkerLostAsync(_worker, ex).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Sends one request on the direct route, or on the relayed stream with large payloads on the bulk-data connection;
    /// a large shared value goes through the cluster's staging storage when it has one.
    /// </summary>
    private async ValueTask SendAsync(OutgoingRequest outgoing, DirectTaskStream? direct, IClientStreamWriter<RunRequest>? requests, CancellationToken stream)
    {
        var request = outgoing.Request;
        if (request.Share is { } value)
        {
            await ShareAsync(value, outgoing.Lease!, stream).ConfigureAwait(false);
        }

        if (direct is not null)
        {
            // Blocking: the socket stays a plain blocking one (see DirectTaskStream).
            direct.Send(request);
            return;
        }

        if (_bulk is not null && request.Tasks is { } tasks && tasks.Arguments.Length >= BulkFrame.ThresholdBytes)
        {
            // Large arguments go beside the control stream, as raw bytes; the batch only names them.
            tasks.BulkId = await _bulk.SendAsync(tasks.Arguments.Memory, stream).ConfigureAwait(false);
            tasks.Arguments = Google.Protobuf.ByteString.Empty;
        }
        else if (_bulk is not null && request.Share is { } share && share.Value.Length >= BulkFrame.ThresholdBytes)
        {
            share.BulkId = await _bulk.SendAsync(share.Value.Memory, stream).ConfigureAwait(false);
            share.Value = Google.Protobuf.ByteString.Empty;
        }

        await requests!.WriteAsync(request, stream).ConfigureAwait(false);
    }

    /// <summary>
    /// Has the worker fetch a large shared value from the cluster's staging storage, if it has one, and counts the bytes
    /// it fetched (none when it held the value already) as staged; else, or when staging fails (logged), counts them as sent, and the value goes on the stream.
    /// </summary>
    private async ValueTask ShareAsync(ShareValue share, RentedBuffer bytes, CancellationToken stream)
    {
        var size = share.Value.Length;
        if (_staging is not null && Sharing.ShareStaging.Applies(share))
        {
            try
            {
                _scheduler.Metrics.SharedValueStaged(await _staging.StageAsync(share, bytes, stream).ConfigureAwait(false));
                return;
            }
            catch (Exception ex) when (!stream.IsCancellationRequested)
            {
                _scheduler.OnShareNotStaged(_worker, share, ex);
            }
        }

        _scheduler.Metrics.ArgumentsSent(size);
    }

    /// <summary>Hands a result batch to the scheduler, with its results from the bulk-data connection when it names a blob.</summary>
    private async Task DeliverResultsAsync(ResultBatch batch)
    {
        if (batch.BulkId == 0)
        {
            _scheduler.OnResults(_worker, batch);
            return;
        }

        if (_bulk is null)
        {
            throw new InvalidDataException($"Worker {_worker.Id} sent results as bulk blob {batch.BulkId}, but this client has no bulk-data connection to it.");
        }

        var payload = await _bulk.Results.TakeAsync(batch.BulkId, _stop).ConfigureAwait(false);
        try
        {
            batch.Results = Google.Protobuf.UnsafeByteOperations.UnsafeWrap(payload.Data);
            _scheduler.OnResults(_worker, batch);
        }
        finally
        {
            // The results were read into their calls' own objects.
            batch.Results = Google.Protobuf.ByteString.Empty;
            payload.Buffer.Release();
        }
    }

    /// <summary>
    /// Reads result batches until the stream ends; returns how the executor behind it died when that ended it, else null
    /// (disposed, or the worker was lost, which is reported here).
    /// </summary>
    private async Task<string?> ReceiveLoopAsync()
    {
        if (_direct is { } direct)
        {
            return await ReceiveDirectAsync(direct).ConfigureAwait(false);
        }

        var responses = _run!.ResponseStream;
        try
        {
            while (await responses.MoveNext(_stop).ConfigureAwait(false))
            {
                if (responses.Current.KindCase == RunReply.KindOneofCase.Results)
                {
                    await DeliverResultsAsync(responses.Current.Results).ConfigureAwait(false);
                }
            }

            if (!_stop.IsCancellationRequested)
            {
                await _scheduler.OnWorkerLostAsync(_worker, null).ConfigureAwait(false);
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
            await _scheduler.OnWorkerLostAsync(_worker, ex).ConfigureAwait(false);
        }

        return null;
    }

    /// <summary>
    /// Reads result batches from a direct route until it ends, on a thread of its own; returns how the executor behind it
    /// died when that ended it (the worker says, asked after the connection broke), else null (disposed, or the worker was
    /// lost, which is reported here).
    /// </summary>
    private async Task<string?> ReceiveDirectAsync(DirectTaskStream direct)
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
                            _scheduler.OnResults(_worker, batch);
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
            using var timeout = new CancellationTokenSource(TaskStreams.DirectRouteTimeout, _time);
            using var asking = CancellationTokenSource.CreateLinkedTokenSource(_stop, timeout.Token);
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

        await _scheduler.OnWorkerLostAsync(_worker, error).ConfigureAwait(false);
        return null;
    }
}
