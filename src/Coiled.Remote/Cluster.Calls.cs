using System.Diagnostics;
using System.Runtime.CompilerServices;
using Coiled.Remote.Scheduling;
using Coiled.Remote.Sharing;
using Coiled.Remote.Stubs;
using Coiled.Remote.Telemetry;

namespace Coiled.Remote;

public sealed partial class Cluster
{
    private async Task<TResult> SubmitCoreAsync<TArgs, TResult>(
        Delegate method, int arity, TArgs arguments, ArgumentArrayWriter<TArgs> writer, CancellationToken cancellationToken)
    {
        var stub = Resolve(method, arity);
        cancellationToken.ThrowIfCancellationRequested();
        using var builder = NewBuilder(writer, stub, itemized: false, pooled: true);
        builder.Add(arguments, 0);
        var job = new MapJob<TResult>(stub, 1, cancellationToken) { Activity = RemoteTelemetry.StartCall("submit", stub.DisplayName, Id, 1) };
        try
        {
            using var registration = Watch(job, cancellationToken);
            _scheduler.Submit(job, [builder.Seal()!]);
            var results = await job.Completion.ConfigureAwait(false);
            RemoteTelemetry.EndCall(job.Activity, null);
            return results[0];
        }
        catch (Exception ex)
        {
            RemoteTelemetry.EndCall(job.Activity, ex);
            throw;
        }
    }

    private Task<TResult[]> MapCoreAsync<TArgs, TResult>(
        Delegate method, int arity, IEnumerable<TArgs> items, ArgumentArrayWriter<TArgs> writer, IProgress<MapProgress>? progress, CancellationToken cancellationToken)
        => RunAllAsync("map", method, arity, items, writer, static (stub, count, token) => new MapJob<TResult>(stub, count, token), job => job.Completion, [], progress, cancellationToken);

    private Task<ItemOutcome<TResult>[]> MapOutcomesCoreAsync<TArgs, TResult>(
        Delegate method, int arity, IEnumerable<TArgs> items, ArgumentArrayWriter<TArgs> writer, IProgress<MapProgress>? progress, CancellationToken cancellationToken)
        => RunAllAsync("map_outcomes", method, arity, items, writer, static (stub, count, token) => new OutcomeJob<TResult>(stub, count, token), job => job.Completion, [], progress, cancellationToken);

    /// <summary>Serializes every item into chunks and submits them as one job; the first chunk runs while the rest is still being serialized.</summary>
    private Task<TOutput[]> RunAllAsync<TArgs, TJob, TOutput>(
        string operation,
        Delegate method,
        int arity,
        IEnumerable<TArgs> items,
        ArgumentArrayWriter<TArgs> writer,
        Func<RemoteStub, int, CancellationToken, TJob> createJob,
        Func<TJob, Task<TOutput[]>> completion,
        TOutput[] empty,
        IProgress<MapProgress>? progress,
        CancellationToken cancellationToken)
        where TJob : Job
    {
        ArgumentNullException.ThrowIfNull(items);
        var stub = Resolve(method, arity);
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<TOutput[]>(cancellationToken);
        }

        if (!items.TryGetNonEnumeratedCount(out var count))
        {
            var list = items.ToList();
            items = list;
            count = list.Count;
        }

        if (count == 0)
        {
            progress?.Report(new MapProgress(0, 0, 0, 0, TimeSpan.Zero));
            return Task.FromResult(empty);
        }

        var job = createJob(stub, count, cancellationToken);
        job.Activity = RemoteTelemetry.StartCall(operation, stub.DisplayName, Id, count);
        job.Progress = progress is null ? null : new MapProgressTracker(progress, count, _options.TimeProvider);
        using var builder = NewBuilder(writer, stub, itemized: true, pooled: true);
        var submitted = false;
        var index = 0;
        try
        {
            foreach (var item in items)
            {
                if (index == count)
                {
                    throw new InvalidOperationException($"The items passed for {stub.DisplayName} changed while they were read: more than the {count} announced.");
                }

                builder.Add(item, index++);
                if (builder.IsFull)
                {
                    Send(builder.Seal()!);
                }
            }

            if (index != count)
            {
                throw new InvalidOperationException($"The items passed for {stub.DisplayName} changed while they were read: {index} instead of {count}.");
            }

            if (builder.Seal() is { } last)
            {
                Send(last);
            }
        }
        catch (Exception ex)
        {
            job.Fail(ex);
            RemoteTelemetry.EndCall(job.Activity, ex);
            throw;
        }

        return WatchAsync(operation, job, count, completion(job), cancellationToken);

        void Send(ArgumentChunk chunk)
        {
            if (submitted)
            {
                _scheduler.Enqueue(job, chunk);
            }
            else
            {
                _scheduler.Submit(job, [chunk]);
                submitted = true;
            }
        }
    }

    private IAsyncEnumerable<TResult> MapStreamCoreAsync<TArgs, TResult>(
        Delegate method, int arity, ItemSource<TArgs> items, ArgumentArrayWriter<TArgs> writer, IProgress<MapProgress>? progress, CancellationToken cancellationToken)
        => MapStreamCoreAsync<TArgs, TResult>(method, arity, items, writer, progress, window: null, cancellationToken);

    /// <summary>
    /// Streams <paramref name="items"/> through <paramref name="method"/> within <paramref name="window"/>, or, when it is
    /// null, within a new window of <see cref="StreamWindowItems"/> items and <see cref="ClusterOptions.StreamWindowBytes"/>
    /// bytes for each enumeration. Tests pass a window of their own to read its peaks; it then serves one enumeration.
    /// </summary>
    internal async IAsyncEnumerable<TResult> MapStreamCoreAsync<TArgs, TResult>(
        Delegate method,
        int arity,
        ItemSource<TArgs> items,
        ArgumentArrayWriter<TArgs> writer,
        IProgress<MapProgress>? progress,
        StreamWindow? window,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var stub = Resolve(method, arity);
        var job = new StreamJob<TResult>(stub, window ?? NewStreamWindow(), cancellationToken)
        {
            Activity = RemoteTelemetry.StartCall("map_stream", stub.DisplayName, Id, -1),
            Progress = progress is null ? null : new MapProgressTracker(progress, -1, _options.TimeProvider),
        };
        Exception? error = null;
        long yielded = 0;
        var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var registration = Watch(job, cancellationToken);
        _scheduler.Submit(job, []);
        // A stream refers to a shared value only while its items that pass it run, and its writer keeps a few values' bytes.
        var reader = new StreamProducer<TArgs, TResult>(job, items, NewBuilder(writer, stub, itemized: true, pooled: false, keep: ArgumentSharing.StreamKeeps), _scheduler);
        var producer = reader.RunAsync(stop.Token);
        try
        {
            while (true)
            {
                bool hasValue;
                TResult value;
                try
                {
                    (hasValue, value) = await job.NextAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    error = ex;
                    throw;
                }

                if (!hasValue)
                {
                    break;
                }

                yielded++;
                yield return value;
            }
        }
        finally
        {
            job.Activity?.SetTag(RemoteTelemetry.ItemCountTag, yielded);
            RemoteTelemetry.EndCall(job.Activity, error);
            _logger.StreamEnded(stub.DisplayName, yielded, error is null ? "ended" : $"failed ({error.GetType().Name})", job.Window.PeakItems, job.Window.PeakBytes);

            // However the consumer stopped (end, error, break), nothing of this stream keeps running: the source is read no
            // more. A read of the source under way is not waited for, since the source may block as long as it likes; the
            // source is disposed when that read returns.
            job.Fail(new OperationCanceledException("The stream's consumer stopped reading."));
            stop.Cancel();
            if (!reader.IsReadingSource)
            {
                await producer.ConfigureAwait(false);
            }
            else
            {
                // A quick source's read ends in a moment; a blocked one is left to end when it may.
                await Task.WhenAny(producer, Task.Delay(SourceReadGraceOnStop, CancellationToken.None)).ConfigureAwait(false);
            }

            _ = producer.ContinueWith(static (_, state) => ((CancellationTokenSource)state!).Dispose(), stop, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    /// <summary>
    /// The serializer of one call's items, which writes a <see cref="Shared{T}"/> argument as a reference to its value
    /// and, when the cluster shares, sends a large argument that comes again once to each worker.
    /// </summary>
    /// <param name="writer">Writes one item's arguments.</param>
    /// <param name="stub">The method.</param>
    /// <param name="itemized">Whether errors name the item.</param>
    /// <param name="pooled">Whether large chunks may keep a pooled array.</param>
    /// <param name="keep">Most large values whose bytes the writer keeps for their next coming; 0 for all (see <see cref="ArgumentSharing"/>).</param>
    internal ArgumentChunkBuilder<TArgs> NewBuilder<TArgs>(ArgumentArrayWriter<TArgs> writer, RemoteStub stub, bool itemized, bool pooled, int keep = 0)
    {
        // A method none of whose arguments is of a reference type has nothing to share, and its calls pay nothing for it.
        var sharing = SharingArgumentWriter<TArgs>.For(stub) is null
            ? null
            : new ArgumentSharing(_options.ShareRepeatedArguments ? _repeatedArguments : null, this, keep);
        return new(writer, stub, itemized, pooled, sharing, _scheduler.SharedValueBytes);
    }

    /// <summary>
    /// A window of <see cref="StreamWindowItems"/> items and <see cref="ClusterOptions.StreamWindowBytes"/> bytes that reads
    /// two items per worker slot (at least 16) before the first result tells how large results are.
    /// </summary>
    internal StreamWindow NewStreamWindow()
        => new(StreamWindowItems, _options.StreamWindowBytes, itemsBeforeFirstResult: Math.Max(MinItemsBeforeFirstResult, 2 * _scheduler.TotalSlots));

    private async Task<TOutput> WatchAsync<TOutput>(string operation, Job job, int count, Task<TOutput> completion, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        using var registration = Watch(job, cancellationToken);
        try
        {
            var output = await completion.ConfigureAwait(false);
            RemoteTelemetry.EndCall(job.Activity, null);
            _logger.CallCompleted(operation, job.Stub.DisplayName, count, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            return output;
        }
        catch (Exception ex)
        {
            RemoteTelemetry.EndCall(job.Activity, ex);
            _logger.CallFailed(operation, job.Stub.DisplayName, count, Stopwatch.GetElapsedTime(started).TotalMilliseconds, ex.GetType().Name);
            throw;
        }
    }

    private static CancellationTokenRegistration Watch(Job job, CancellationToken cancellationToken)
        => cancellationToken.CanBeCanceled
            ? cancellationToken.Register(static state =>
            {
                var (job, token) = ((Job, CancellationToken))state!;
                job.Fail(new OperationCanceledException(token));
            }, (job, cancellationToken))
            : default;
}
