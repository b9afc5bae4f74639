using System.Diagnostics;
using Coiled.Remote.Dashboard;
using Coiled.Remote.Sharing;
using Coiled.Remote.Stubs;
using Coiled.Remote.Telemetry;
using Coiled.Remote.Transport;
using MessagePack;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// One call into the cluster (a map, a stream or a single submit): its stub, its queued argument chunks, and what
/// happens to each item's outcome. Queue members are touched only under the scheduler's lock; outcome methods are
/// called outside it, from the workers' receive loops.
/// </summary>
internal abstract class Job(RemoteStub stub, CancellationToken cancellationToken)
{
    private readonly Queue<ArgumentChunk> _chunks = new();
    private readonly List<RentedBuffer> _buffers = [];
    private bool _buffersReleased;
    private long _queuedItems;
    private int _finished;

    public RemoteStub Stub { get; } = stub;

    public CancellationToken CancellationToken { get; } = cancellationToken;

    /// <summary>Scheduler-assigned id; task ids are <c>(Id &lt;&lt; 32) | itemIndex</c>.</summary>
    public uint Id { get; set; }

    public bool IsFinished => Volatile.Read(ref _finished) != 0;

    /// <summary>Whether the job waits in the scheduler's queue (scheduler lock).</summary>
    public bool IsQueued { get; set; }

    public bool HasQueuedItems => _chunks.Count > 0;

    /// <summary>Items queued and not yet sent (scheduler lock).</summary>
    public long QueuedItemCount => _queuedItems;

    /// <summary>Set by the scheduler: told once when the job ends, however it ended.</summary>
    public Action<Job>? Finished { get; set; }

    /// <summary>The call's activity when a listener samples it; its tasks' activities are its children.</summary>
    public Activity? Activity { get; set; }

    /// <summary>Where the call reports <see cref="MapProgress"/>, if it asked to.</summary>
    public MapProgressTracker? Progress { get; set; }

    /// <summary>What the dashboard counts of the call; null when the dashboard is off.</summary>
    public CallRecord? Dashboard { get; set; }

    /// <summary>Items in the call, or -1 while unknown (a stream whose source is still being read).</summary>
    public abstract long TotalItems { get; }

    /// <summary>A timestamp now if the job is traced (for its tasks' activities), else 0 at no cost.</summary>
    public long TraceTimestamp() => Activity is null ? 0 : Stopwatch.GetTimestamp();

    /// <summary>Queues a chunk of items (scheduler lock); the job holds the chunk's pooled array until it ends.</summary>
    public void AddChunk(ArgumentChunk chunk)
    {
        if (chunk.Lease is { } lease && !_buffersReleased)
        {
            _buffers.Add(lease);
        }

        _chunks.Enqueue(chunk);
        _queuedItems += chunk.Remaining;
    }

    private CallShares? _shares;

    /// <summary>Whether the job lets go of a shared value once its items that refer to it ended, rather than when it ends (streams).</summary>
    protected virtual bool ReleasesSharesPerItem => false;

    /// <summary>The shared values this job's items refer to (scheduler lock).</summary>
    public CallShares Shares => _shares ??= new(ReleasesSharesPerItem);

    /// <summary>Takes the shared values the job still referred to, once it ended (scheduler lock); empty for a job that shared none.</summary>
    public IReadOnlyCollection<SharedValue> TakeSharedValues()
    {
        IReadOnlyCollection<SharedValue> values = _shares?.TakeAll() ?? [];
        _shares = null;
        return values;
    }

    /// <summary>
    /// The next up to <paramref name="maxCount"/> consecutive items, stopping early at <paramref name="maxBytes"/>,
    /// without taking them (scheduler lock); <see cref="Take"/> takes them.
    /// </summary>
    public bool TryPeek(int maxCount, int maxBytes, out ArgumentChunk chunk, out int start, out int count)
    {
        while (_chunks.TryPeek(out chunk!))
        {
            if (chunk.Remaining == 0)
            {
                _chunks.Dequeue();
                continue;
            }

            start = chunk.Taken;
            count = Math.Min(maxCount, chunk.Remaining);
            while (count > 1 && chunk.SizeOf(start, count) > maxBytes)
            {
                count /= 2;
            }

            return true;
        }

        chunk = null!;
        start = count = 0;
        return false;
    }

    /// <summary>Takes the first <paramref name="count"/> items of the chunk <see cref="TryPeek"/> found (scheduler lock).</summary>
    public void Take(ArgumentChunk chunk, int count)
    {
        chunk.Taken += count;
        _queuedItems -= count;
        if (chunk.Remaining == 0)
        {
            _chunks.Dequeue();
        }
    }

    /// <summary>
    /// Lets go of the chunks' pooled arrays (scheduler lock), once the job ended and nothing of it can be sent again:
    /// its queue, retries and suspects are gone. Sends already under way hold the arrays until they are done.
    /// </summary>
    public void ReleaseBuffers()
    {
        if (_buffersReleased)
        {
            return;
        }

        _buffersReleased = true;
        foreach (var buffer in _buffers)
        {
            buffer.Release();
        }

        _buffers.Clear();
    }

    /// <summary>Drops every queued item (scheduler lock).</summary>
    public void ClearQueue()
    {
        _chunks.Clear();
        _queuedItems = 0;
    }

    /// <summary>Marks the job finished; true for the caller that finished it.</summary>
    protected bool TryFinish() => Interlocked.Exchange(ref _finished, 1) == 0;

    /// <summary>Whether the job ended because every item ended: nothing of it is then left queued, retrying or in flight.</summary>
    public bool EndedWithEveryItem { get; private set; }

    /// <summary>Tells the scheduler that the job ended because every item ended (after <see cref="TryFinish"/> returned true).</summary>
    protected void NotifyCompleted()
    {
        EndedWithEveryItem = true;
        NotifyFinished();
    }

    /// <summary>Tells the scheduler that the job ended (after <see cref="TryFinish"/> returned true).</summary>
    protected void NotifyFinished()
    {
        Progress?.Complete();
        Finished?.Invoke(this);
    }

    /// <summary>The error for a result that arrived but cannot be read as the method's result type.</summary>
    protected RemoteException UnreadableResult<TResult>(int index, Exception error) => new(
        Stub.DisplayName, error.GetType().FullName ?? error.GetType().Name,
        $"The result of item {index} could not be read as {typeof(TResult)}: {error.GetBaseException().Message}",
        error.StackTrace ?? string.Empty, "(caller)", index);

    /// <summary>Ends the job through <paramref name="completion"/>: a cancellation stays a cancellation, anything else faults it.</summary>
    protected void FailWith<T>(TaskCompletionSource<T> completion, Exception error)
    {
        if (!TryFinish())
        {
            return;
        }

        if (error is OperationCanceledException cancelled)
        {
            completion.TrySetCanceled(cancelled.CancellationToken);
        }
        else
        {
            completion.TrySetException(error);
        }

        NotifyFinished();
    }

    /// <summary>Item <paramref name="index"/> returned; <paramref name="reader"/> holds exactly its result.</summary>
    public abstract void OnResult(int index, ref MessagePackReader reader);

    /// <summary>Item <paramref name="index"/> ended with an error that retries cannot fix.</summary>
    public abstract void OnFailure(int index, Exception error);

    /// <summary>The whole job ends with <paramref name="error"/> (cancellation, no workers left, cluster disposed).</summary>
    public abstract void Fail(Exception error);
}
