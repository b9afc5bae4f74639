using System.Collections.Concurrent;
using System.Net.Sockets;
using Coiled.Remote.Transport.Protocol;
using Coiled.Remote.Transport;
using Google.Protobuf;

namespace Coiled.Remote.Worker.Executors;

/// <summary>
/// What an executor process (<see cref="ExecutorHost"/>) serves: its daemon's connections on a Unix socket, each a
/// client's task stream, relayed by the daemon or on a direct route handed over the connection, and served by a
/// <see cref="TaskExecutor"/> of its own. A connection must present the daemon's secret first. The streams share one
/// record of activity, which an executor serving a direct route reports to its daemon. Once a task overran its timeout,
/// <see cref="Recycling"/> completes: the executor then exits when the outcomes reported by then were sent.
/// </summary>
internal sealed class ExecutorServer
{
    /// <summary>A connection must present the secret within this time.</summary>
    private static readonly TimeSpan SecretTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How often an executor serving a direct route tells the daemon whether tasks run.</summary>
    private static readonly TimeSpan ReportPeriod = TimeSpan.FromSeconds(1);

    private readonly byte[] _secret;
    private readonly ExecutorCommandLine _options;
    private readonly WorkerActivity _activity = new(TimeProvider.System);
    private readonly TaskCompletionSource<string> _recycle = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentDictionary<ResultBatcher, byte> _batchers = new();

    /// <param name="secret">What the daemon's links must present first.</param>
    /// <param name="options">The executor's command line: its slots and task limits.</param>
    internal ExecutorServer(byte[] secret, ExecutorCommandLine options)
    {
        _secret = secret;
        _options = options;
    }

    /// <summary>Completes, with the reason, once a task overran its timeout: the executor then recycles.</summary>
    public Task<string> Recycling => _recycle.Task;

    /// <summary>Completes when every stream served now has sent the outcomes reported so far.</summary>
    public Task WhenDrainedAsync() => Task.WhenAll(_batchers.Keys.Select(b => b.WhenDrainedAsync()));

    /// <summary>
    /// Accepts the daemon's connections, blocking (so that they are plain blocking sockets), and serves each in
    /// <paramref name="environment"/>'s environment, until recycling closes the listener.
    /// </summary>
    /// <returns>False, once the listener is closed.</returns>
    public bool Accept(Socket listener, Task<RemoteEnvironment> environment)
    {
        while (true)
        {
            Socket connection;
            try
            {
                connection = listener.Accept();
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                return false;
            }

            _ = Task.Run(() => ServeAsync(connection, environment));
        }
    }

    /// <summary>Serves one client's task stream, relayed by the daemon or on a direct route, in <paramref name="environmentTask"/>'s environment, until it ends.</summary>
    internal async Task ServeAsync(Socket connection, Task<RemoteEnvironment> environmentTask)
    {
        using var link = new ExecutorLink(connection);

        // Blocking until the daemon says what the connection is for, which for a direct route is when its client connects
        // (a ticket waits up to its lifetime): on a thread of its own, so that waiting tickets never hold the thread
        // pool, which runs the tasks.
        var opening = await DedicatedThread.Run("coiled-remote executor opening", () => Open(link)).ConfigureAwait(false);
        if (opening is not { } opened)
        {
            return;
        }

        // A spare serves no task before it knows its environment.
        var environment = await environmentTask.ConfigureAwait(false);
        if (opened.Handoff is { } handoff)
        {
            await ServeDirectAsync(link, opened.Passed!, handoff, environment).ConfigureAwait(false);
        }
        else
        {
            await ServeStreamAsync(new RelayedStream(link), environment).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Reads, blocking, the secret, the mode byte and (for a direct route) the client's connection that came with it and
    /// what serves it; null when the connection is not the daemon's, or ended first.
    /// </summary>
    private (Socket? Passed, RouteHandoff? Handoff)? Open(ExecutorLink link)
    {
        if (!link.AcceptSecret(_secret, SecretTimeout))
        {
            return null;
        }

        (byte? Mode, Socket? Passed) opening;
        try
        {
            opening = link.ReceiveMode();
        }
        catch (SocketException)
        {
            return null;
        }

        if (opening.Mode == ExecutorLink.RelayedMode)
        {
            opening.Passed?.Dispose();
            return (null, null);
        }

        if (opening is not { Mode: ExecutorLink.DirectMode, Passed: { } passed })
        {
            opening.Passed?.Dispose();
            return null;
        }

        try
        {
            if (link.Read(RouteHandoff.Parser) is { } received)
            {
                received.Payload?.Release();
                return (passed, received.Header);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or InvalidDataException or InvalidProtocolBufferException)
        {
            // The daemon went away meanwhile.
        }

        passed.Dispose();
        return null;
    }

    /// <summary>
    /// Serves a direct route: the client's own connection, which came with the link's mode byte. Meanwhile the daemon
    /// hears on the link about once a second whether tasks run, and the end of the link when the route ends.
    /// </summary>
    private async Task ServeDirectAsync(ExecutorLink link, Socket passed, RouteHandoff handoff, RemoteEnvironment environment)
    {
        // TLS and the secret may take the client up to DirectStream.OpeningTimeout: not on the thread pool either.
        var ready = new Ready { EnvironmentId = environment.Id, Slots = _options.Slots };
        var stream = await DedicatedThread.Run("coiled-remote route opening", () => DirectStream.Accept(passed, handoff, ready)).ConfigureAwait(false);
        if (stream is null)
        {
            return;
        }

        using var reporting = new CancellationTokenSource();
        var reports = ReportAsync(link, reporting.Token);
        try
        {
            await ServeStreamAsync(stream, environment).ConfigureAwait(false);
        }
        finally
        {
            await reporting.CancelAsync().ConfigureAwait(false);
            await reports.ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Tells the daemon, about once a second while a direct route is served, how many tasks run, so that its idle timeout
    /// sees the work, and how long this process has been paused for garbage collection, which the daemon reports to its
    /// clients with its own; a report goes out while tasks run or either figure changed.
    /// </summary>
    private async Task ReportAsync(ExecutorLink link, CancellationToken stop)
    {
        var sent = 0;
        var sentPause = TimeSpan.Zero;
        using var timer = new PeriodicTimer(ReportPeriod);
        try
        {
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                var running = _activity.RunningTasks;
                var pause = GC.GetTotalPauseDuration();
                if (running != sent || pause != sentPause || _activity.WithoutWork() < ReportPeriod * 2)
                {
                    link.Write(new ExecutorReport { RunningTasks = running, GcPauseSeconds = pause.TotalSeconds }, []);
                    sent = running;
                    sentPause = pause;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            // The route ended, or the daemon is gone.
        }
    }

    /// <summary>Serves one client's task stream until it ends.</summary>
    private async Task ServeStreamAsync(IExecutorStream stream, RemoteEnvironment environment)
    {
        using (stream)
        {
            var executor = new TaskExecutor(_options.Slots, _activity, _options.Limits, TimeProvider.System, reason => _recycle.TrySetResult(reason));
            await using (executor.ConfigureAwait(false))
            {
                var batcher = new ResultBatcher(executor);
                _batchers[batcher] = 0;
                var pump = PumpAsync(stream, batcher, executor);
                try
                {
                    await DedicatedThread.Run("coiled-remote executor stream", () => ReadRequests(stream, executor, environment, _options.StagedValueDirectory)).ConfigureAwait(false);
                }
                finally
                {
                    await pump.ConfigureAwait(false);
                    _batchers.TryRemove(batcher, out _);
                }
            }
        }
    }

    /// <summary>
    /// Reads the stream's requests, blocking, until they end: tasks are queued, shared values kept (those fetched into
    /// the worker's folder of staged values read from <paramref name="stagedValues"/>) and released, cancels passed on.
    /// </summary>
    private static bool ReadRequests(IExecutorStream stream, TaskExecutor executor, RemoteEnvironment environment, string? stagedValues)
    {
        try
        {
            while (stream.Read() is { } frame)
            {
                var request = frame.Header;
                switch (request.KindCase)
                {
                    case RunRequest.KindOneofCase.Tasks:
                        executor.Enqueue(environment, request.Tasks, frame.Data, frame.Payload);
                        break;
                    case RunRequest.KindOneofCase.Share when request.Share.Staged:
                        frame.Payload?.Release();
                        var (value, buffer) = StagedValue.Read(stagedValues, request.Share.Sha256.Span);
                        executor.Share(request.Share.Sha256.Span, value, buffer);
                        break;
                    case RunRequest.KindOneofCase.Share:
                        executor.Share(request.Share.Sha256.Span, frame.Data, frame.Payload);
                        break;
                    case RunRequest.KindOneofCase.Release:
                        frame.Payload?.Release();
                        executor.Release(request.Release.Sha256);
                        break;
                    case RunRequest.KindOneofCase.ReturnTasks:
                        frame.Payload?.Release();
                        executor.Return(request.ReturnTasks.TaskIds);
                        break;
                    default:
                        frame.Payload?.Release();
                        executor.Cancel(request.Cancel.TaskIds);
                        break;
                }
            }

            if (stream.EndCompletes)
            {
                executor.Complete();
                return true;
            }
        }
        catch (Grpc.Core.RpcException ex)
        {
            // More tasks than the stream's window (the daemon's own window prevents it on relayed streams), or more shared values than its budget.
            stream.Refuse(ex.Status.Detail);
        }
        catch (Exception ex) when (ex is IOException or SocketException or InvalidDataException or ObjectDisposedException or InvalidProtocolBufferException)
        {
            // A broken connection, or the client is gone: what is queued is dropped and what runs is cancelled.
        }

        executor.Abort();
        return false;
    }

    /// <summary>Sends the outcomes back as they come, then says that every outcome was sent.</summary>
    private static async Task PumpAsync(IExecutorStream stream, ResultBatcher batcher, TaskExecutor executor)
    {
        try
        {
            await batcher.PumpAsync((batch, results) =>
            {
                stream.Write(new RunReply { Results = batch }, results.Span);
                return ValueTask.CompletedTask;
            }).ConfigureAwait(false);
            stream.Finish();
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            // The client or the daemon closed the connection: nobody waits for these outcomes.
            executor.Abort();
        }
    }
}
