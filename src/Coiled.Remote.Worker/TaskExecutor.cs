using System.Buffers;
using System.Collections.Concurrent;
using System.Threading.Channels;
using Coiled.Remote.Sharing;
using Coiled.Remote.Stubs;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using MessagePack;

namespace Coiled.Remote.Worker;

/// <summary>
/// Runs the tasks of one client stream on a fixed number of slots and reports every task's outcome exactly once,
/// whether it returned, threw, was cancelled or could not even start.
/// </summary>
/// <remarks>
/// The outcomes wait in a channel for their reader (<see cref="ResultBatcher"/>), which sends them as fast as the
/// client takes them. The channel is bounded by admission, not by capacity: a batch is admitted only while the tasks
/// held (queued, running, or with an outcome not yet taken) stay within the client's credit window
/// (<see cref="TaskWindow"/>), and a client that sends more has its stream ended. So a client that stops reading
/// results makes the worker hold at most its window of outcomes, and since no slot ever waits for room to report, a
/// slow reader, a task that reports from a timer when it overruns, or a stream being torn down can never deadlock
/// the slots (a channel with a fixed capacity would make each of them wait, and the abort that drains the queue with
/// them).
/// </remarks>
internal sealed class TaskExecutor : IAsyncDisposable
{
    /// <summary>
    /// In an executor, tasks with arguments or a result at least this large may be followed by a full collection
    /// (see <see cref="ReclaimLargeTask"/>); an in-process worker never collects the heap of the application it is in.
    /// </summary>
    private const int LargeTaskBytes = 32 * 1024 * 1024;

    /// <summary>Whether the last full collection after a large task paused longer than it saved (one heap per process).</summary>
    private static bool _reclaimTooSlow;
    private static long _reclaimSkipped;

    private readonly Channel<WorkItem> _queue = Channel.CreateUnbounded<WorkItem>(new UnboundedChannelOptions { SingleWriter = true });
    private readonly Channel<TaskOutcome> _outcomes;
    private readonly ConcurrentDictionary<ulong, RunningTask> _cancellable = new();
    private readonly ConcurrentDictionary<ulong, byte> _cancelRequested = new();
    private readonly ConcurrentDictionary<ulong, byte> _unstarted = new();
    private readonly CancellationTokenSource _abort = new();
    private readonly TaskWindow _window = new();
    private readonly SharedValueStore _shared = new();
    private readonly WorkerActivity _activity;
    private readonly TaskLimits _limits;
    private readonly TimeProvider _time;
    private readonly Action<string>? _recycle;
    private readonly Task _slots;

    /// <param name="slots">Tasks run at once.</param>
    /// <param name="activity">Told when tasks start and finish.</param>
    /// <param name="limits">Timeout grace and result size limit.</param>
    /// <param name="time">The clock of task timeouts and execution times.</param>
    /// <param name="recycle">
    /// Called when a task overran its timeout and grace and its process (an executor) must be replaced; null where the
    /// process cannot be (an in-process worker), and the task then keeps its slot.
    /// </param>
    /// <param name="reportInline">
    /// Whether the reader of <see cref="Outcomes"/> resumes on the thread that reported an outcome (a task's slot), rather
    /// than on another thread of the pool: for a reader that sends synchronously, one thread hop less on every task's
    /// round trip. The slot then waits while its outcome is sent.
    /// </param>
    public TaskExecutor(int slots, WorkerActivity activity, TaskLimits limits, TimeProvider time, Action<string>? recycle, bool reportInline = false)
    {
        _time = time;
        _outcomes = Channel.CreateUnbounded<TaskOutcome>(new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = reportInline });
        _activity = activity;
        _limits = limits;
        _recycle = recycle;
        _slots = Task.WhenAll(Enumerable.Range(0, slots).Select(_ => Task.Run(RunSlotAsync)))
            .ContinueWith(_ => _outcomes.Writer.TryComplete(), TaskScheduler.Default);
    }

    /// <summary>Every task's outcome, once; tell <see cref="OutcomesTaken"/> how many were read.</summary>
    public ChannelReader<TaskOutcome> Outcomes => _outcomes.Reader;

    /// <summary>The reader took <paramref name="count"/> outcomes to send: the client's window has room for as many more tasks.</summary>
    public void OutcomesTaken(int count) => _window.Settle(count);

    /// <summary>Splits a batch into tasks and queues them; tasks that cannot start are reported at once.</summary>
    /// <exception cref="Grpc.Core.RpcException">
    /// <see cref="Grpc.Core.StatusCode.ResourceExhausted"/>: the batch would take the stream past its credit window; none of it was queued.
    /// </exception>
    /// <param name="environment">Where the batch's method lives.</param>
    /// <param name="batch">The tasks.</param>
    /// <param name="arguments">The batch's arguments, from the batch itself or from the bulk-data connection.</param>
    /// <param name="lease">
    /// The caller's hold on the pooled array <paramref name="arguments"/> point into, if any: each queued task holds it
    /// until it ran, and this method lets go of the caller's own hold.
    /// </param>
    public void Enqueue(RemoteEnvironment environment, TaskBatch batch, ReadOnlyMemory<byte> arguments, RentedBuffer? lease = null)
    {
        try
        {
            _window.Admit(batch.TaskIds.Count);
            EnqueueTasks(environment, batch, arguments, lease);
        }
        finally
        {
            lease?.Release();
        }
    }

    private void EnqueueTasks(RemoteEnvironment environment, TaskBatch batch, ReadOnlyMemory<byte> arguments, RentedBuffer? lease)
    {
        RemoteStub stub;
        try
        {
            stub = environment.FindStub(batch.Assembly, batch.StubId);
        }
        catch (RemoteMethodNotFoundException ex)
        {
            foreach (var id in batch.TaskIds)
            {
                Report(new TaskOutcome(id, default, Failure(id, FailureKind.UnknownMethod, ex), 0));
            }

            return;
        }

        var reader = new MessagePackReader(arguments);
        for (var i = 0; i < batch.TaskIds.Count; i++)
        {
            var id = batch.TaskIds[i];
            var start = (int)reader.Consumed;
            try
            {
                if (reader.End)
                {
                    throw new RemoteArgumentException($"The batch carried {batch.TaskIds.Count} task ids but arguments for only {i}.");
                }

                reader.Skip();
            }
            catch (Exception ex) when (ex is MessagePackSerializationException or EndOfStreamException or RemoteArgumentException)
            {
                var failure = new RemoteArgumentException($"The arguments of task {i} of the batch for {batch.StubId} are not valid MessagePack: {ex.Message}", ex);
                for (var j = i; j < batch.TaskIds.Count; j++)
                {
                    Report(new TaskOutcome(batch.TaskIds[j], default, Failure(batch.TaskIds[j], FailureKind.BadArguments, failure), 0));
                }

                return;
            }

            _activity.TaskQueued();
            lease?.Retain();
            _unstarted.TryAdd(id, 0);
            if (!_queue.Writer.TryWrite(new WorkItem(id, stub, arguments[start..(int)reader.Consumed], lease)))
            {
                _unstarted.TryRemove(id, out _);
                lease?.Release();
            }
        }
    }

    /// <summary>
    /// Keeps a shared argument value that the stream's next batches refer to, until <see cref="Release"/> or the end of
    /// the stream; <paramref name="lease"/> (taken over) holds its bytes if pooled.
    /// </summary>
    /// <exception cref="Grpc.Core.RpcException">The value would take the stream past its budget of shared values.</exception>
    public void Share(ReadOnlySpan<byte> sha256, ReadOnlyMemory<byte> value, RentedBuffer? lease = null) => _shared.Add(sha256, value, lease);

    /// <summary>Lets go of shared values the client will no longer refer to.</summary>
    public void Release(IEnumerable<Google.Protobuf.ByteString> hashes) => _shared.Release(hashes.Select(hash => hash.Memory));

    /// <summary>Cancels tasks: running ones through their token, queued ones before they start.</summary>
    public void Cancel(IEnumerable<ulong> taskIds)
    {
        foreach (var id in taskIds)
        {
            _cancelRequested.TryAdd(id, 0);
            if (_cancellable.TryGetValue(id, out var running))
            {
                running.Source.Cancel();
            }
        }
    }

    /// <summary>
    /// The client takes tasks back: those not started end at once, unrun (<see cref="FailureKind.Returned"/>), and their
    /// slots will skip them; those started run on and report as usual.
    /// </summary>
    public void Return(IEnumerable<ulong> taskIds)
    {
        foreach (var id in taskIds)
        {
            if (_unstarted.TryRemove(id, out _))
            {
                Report(new TaskOutcome(id, default, Failure(id, FailureKind.Returned, new OperationCanceledException("Given back to the client before it started.")), 0));
            }
        }
    }

    /// <summary>No more tasks will come; queued and running tasks still finish and report.</summary>
    public void Complete() => _queue.Writer.TryComplete();

    /// <summary>The client is gone: cancels every running task and drops the queue.</summary>
    public void Abort()
    {
        _queue.Writer.TryComplete();
        _abort.Cancel();
    }

    public async ValueTask DisposeAsync()
    {
        Abort();
        await _slots.ConfigureAwait(false);
        _abort.Dispose();
        _shared.Dispose();
    }

    private async Task RunSlotAsync()
    {
        // The limit stops a result too large to send while it is serialized, not after all of it was.
        var buffer = new GrowableBuffer(256, _limits.MaxResultBytes);
        while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (_queue.Reader.TryRead(out var item))
            {
                var resultBytes = 0;
                try
                {
                    if (!_unstarted.TryRemove(item.TaskId, out _))
                    {
                        // Given back to the client (Return), which was told already.
                        continue;
                    }

                    if (_abort.IsCancellationRequested)
                    {
                        Report(new TaskOutcome(item.TaskId, default, Failure(item.TaskId, FailureKind.Canceled, new OperationCanceledException("The client disconnected.")), 0));
                        continue;
                    }

                    if (await RunAsync(item, buffer).ConfigureAwait(false) is { } outcome)
                    {
                        resultBytes = outcome.Result.Length;
                        Report(outcome);
                    }
                }
                finally
                {
                    // The task read its arguments (a method that keeps running past its timeout holds the array on).
                    item.Lease?.Release();
                    var taskBytes = Math.Max(item.Arguments.Length, resultBytes);
                    if (taskBytes >= LargeTaskBytes && _limits.CollectAfterLargeTasks)
                    {
                        ReclaimLargeTask(taskBytes);
                    }
                }
            }
        }
    }

    /// <summary>Runs one task; null when its outcome was already reported because it overran its timeout.</summary>
    private async ValueTask<TaskOutcome?> RunAsync(WorkItem item, GrowableBuffer buffer)
    {
        var id = item.TaskId;
        if (!_cancelRequested.IsEmpty && _cancelRequested.TryRemove(id, out _))
        {
            return new TaskOutcome(id, default, Failure(id, FailureKind.Canceled, new OperationCanceledException("Cancelled before it started.")), 0);
        }

        RunningTask? running = null;
        var token = CancellationToken.None;
        if (item.Stub.AcceptsCancellation || item.Stub.TimeoutSeconds > 0)
        {
            running = new RunningTask(CancellationTokenSource.CreateLinkedTokenSource(_abort.Token));
            if (item.Stub.TimeoutSeconds > 0)
            {
                var timeout = TimeSpan.FromSeconds(item.Stub.TimeoutSeconds);
                running.Deadline = _time.CreateTimer(static state => ((RunningTask)state!).Cancel(), running, timeout, Timeout.InfiniteTimeSpan);
                running.Overrun = _time.CreateTimer(_ => Overran(item, running), null, timeout + _limits.TimeoutGrace, Timeout.InfiniteTimeSpan);
            }

            _cancellable[id] = running;
            token = running.Source.Token;

            // A cancel that arrived between the check above and the registration must still be seen.
            if (_cancelRequested.ContainsKey(id))
            {
                running.Source.Cancel();
            }
        }

        _activity.TaskStarted();
        var started = _time.GetTimestamp();
        try
        {
            await Invoke(item, buffer, token).ConfigureAwait(false);
            if (running is not null && !running.TryClaimReport())
            {
                return null;
            }

            if (buffer.WrittenCount >= BulkFrame.ThresholdBytes)
            {
                // A large result is not copied: the outcome takes the slot's buffer, which starts over with a new one.
                var length = buffer.WrittenCount;
                var lease = buffer.Detach();
                return new TaskOutcome(id, lease.Array.AsMemory(0, length), null, Elapsed(started), lease);
            }

            return new TaskOutcome(id, buffer.WrittenSpan.ToArray(), null, Elapsed(started));
        }
        catch (Exception) when (running is not null && !running.TryClaimReport())
        {
            // Already reported as a timeout when it overran its grace period.
            return null;
        }
        catch (RemoteArgumentException ex)
        {
            return new TaskOutcome(id, default, Failure(id, FailureKind.BadArguments, ex), Elapsed(started));
        }
        catch (BufferLimitException ex)
        {
            return new TaskOutcome(id, default, Failure(id, FailureKind.BadResult, new RemoteResultException(
                $"{item.Stub.DisplayName} returned a result of more than {ex.Limit:N0} bytes; results are limited to {ex.Limit:N0} bytes. " +
                "Return less data per item, or write it to storage the caller can read and return its location.", ex)), Elapsed(started));
        }
        catch (RemoteResultException ex)
        {
            return new TaskOutcome(id, default, Failure(id, FailureKind.BadResult, ex), Elapsed(started));
        }
        catch (OperationCanceledException ex) when (token.IsCancellationRequested)
        {
            Exception cancelled = _cancelRequested.ContainsKey(id) || _abort.IsCancellationRequested
                ? ex
                : new TimeoutException($"{item.Stub.DisplayName} did not finish within its timeout of {item.Stub.TimeoutSeconds} s.", ex);
            var kind = cancelled is TimeoutException ? FailureKind.Exception : FailureKind.Canceled;
            return new TaskOutcome(id, default, Failure(id, kind, cancelled), Elapsed(started));
        }
        catch (Exception ex)
        {
            return new TaskOutcome(id, default, Failure(id, FailureKind.Exception, ex), Elapsed(started));
        }
        finally
        {
            buffer.ResetWrittenCount();
            _activity.TaskFinished();
            if (running is not null)
            {
                _cancellable.TryRemove(id, out _);
                running.Dispose();
            }

            if (!_cancelRequested.IsEmpty)
            {
                _cancelRequested.TryRemove(id, out _);
            }

        }
    }

    /// <summary>Starts the task's method, which reads its arguments before it returns, shared ones from the stream's store.</summary>
    private ValueTask Invoke(WorkItem item, GrowableBuffer buffer, CancellationToken token)
    {
        SharedReference.Source = _shared;
        try
        {
            return item.Stub.InvokeAsync(item.Arguments, buffer, token);
        }
        finally
        {
            SharedReference.Source = null;
        }
    }

    /// <summary>
    /// The task's copy of a large argument, or the large result it returned (serialized into a pooled buffer by now), is
    /// garbage. Unless the collector reclaims it before the next one is made, that one lands in fresh memory and pays a
    /// page fault every 4 KiB, which costs more than the copy that fills it. A full collection costs what marking the
    /// live objects costs, which only the collection itself tells: when one pauses the process longer than the faults
    /// it saves would have (half a microsecond per 4 KiB), only every 16th large task tries again, in case the heap has
    /// shrunk since.
    /// </summary>
    private static void ReclaimLargeTask(int taskBytes)
    {
        if (Volatile.Read(ref _reclaimTooSlow) && Interlocked.Increment(ref _reclaimSkipped) % 16 != 0)
        {
            return;
        }

        var saves = TimeSpan.FromMicroseconds(taskBytes / 4096 * 0.5);
        var before = GC.GetTotalPauseDuration();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: false);
        Volatile.Write(ref _reclaimTooSlow, GC.GetTotalPauseDuration() - before > saves);
    }

    private void Report(TaskOutcome outcome) => _outcomes.Writer.TryWrite(outcome);

    /// <summary>A task with a timeout is still running after its token was cancelled and the grace period passed.</summary>
    private void Overran(WorkItem item, RunningTask running)
    {
        if (!running.TryClaimReport())
        {
            return;
        }

        var limit = item.Stub.TimeoutSeconds;
        var grace = _limits.TimeoutGrace.TotalSeconds;
        var message = _recycle is not null
            ? $"{item.Stub.DisplayName} did not return within its timeout of {limit} s nor {grace:0.#} s after its CancellationToken was cancelled; the executor process of its environment was recycled to free its slot (the worker stays). Observe the token in long-running code."
            : $"{item.Stub.DisplayName} did not return within its timeout of {limit} s nor {grace:0.#} s after its CancellationToken was cancelled; it keeps one slot of this in-process worker busy. Observe the token in long-running code.";
        Report(new TaskOutcome(item.TaskId, default, Failure(item.TaskId, FailureKind.Exception, new TimeoutException(message)), 0));
        _recycle?.Invoke($"{item.Stub.DisplayName} overran its timeout of {limit} s");
    }

    /// <summary>A task that can be cancelled: its token source, and who reports its outcome.</summary>
    private sealed class RunningTask(CancellationTokenSource source) : IDisposable
    {
        private int _reported;

        public CancellationTokenSource Source { get; } = source;

        /// <summary>Cancels the task's token when its timeout is up.</summary>
        public ITimer? Deadline { get; set; }

        public ITimer? Overrun { get; set; }

        /// <summary>True for the one caller (the task's completion or its overrun timer) that reports the outcome.</summary>
        public bool TryClaimReport() => Interlocked.Exchange(ref _reported, 1) == 0;

        /// <summary>Cancels the task's token, unless the task already ended and disposed it.</summary>
        public void Cancel()
        {
            try
            {
                Source.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The task ended as its timeout came.
            }
        }

        public void Dispose()
        {
            Deadline?.Dispose();
            Overrun?.Dispose();
            Source.Dispose();
        }
    }

    private long Elapsed(long started) => (long)_time.GetElapsedTime(started).TotalNanoseconds;

    private static TaskFailure Failure(ulong taskId, FailureKind kind, Exception exception) => new()
    {
        TaskId = taskId,
        Kind = kind,
        ExceptionType = exception.GetType().FullName ?? exception.GetType().Name,
        Message = AlteredFileException.Cause(exception).Message,
        StackTrace = exception.StackTrace ?? string.Empty,
    };
}
