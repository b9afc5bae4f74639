using System.Diagnostics;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// Reads a stream's source as its window allows, serializes the items into chunks and hands them to the scheduler.
/// Items read are sent as soon as the source makes the reader wait: at once for an asynchronous source whose next item
/// is not ready, and, for a synchronous source (whose <c>MoveNext</c> can only block), once it has blocked for
/// <see cref="SourceWaitBeforeSending"/>, so that a slow or feedback-driven source never holds back what it gave.
/// </summary>
internal sealed class StreamProducer<TArgs, TResult>
{
    /// <summary>How long a synchronous source may keep the reader waiting before the items already read are sent.</summary>
    public static readonly TimeSpan SourceWaitBeforeSending = TimeSpan.FromMilliseconds(2);

    private readonly StreamJob<TResult> _job;
    private readonly ItemSource<TArgs> _items;
    private readonly ArgumentChunkBuilder<TArgs> _builder;
    private readonly Scheduler _scheduler;
    private readonly object _gate = new();
    private long _inSourceSince;
    private int _readingSource;

    /// <param name="job">The stream's job.</param>
    /// <param name="items">The stream's source.</param>
    /// <param name="builder">What serializes the items (unpooled: a stream's chunks are left to the garbage collector); disposed when the source is read.</param>
    /// <param name="scheduler">Where the chunks go.</param>
    public StreamProducer(StreamJob<TResult> job, ItemSource<TArgs> items, ArgumentChunkBuilder<TArgs> builder, Scheduler scheduler)
    {
        _job = job;
        _items = items;
        _scheduler = scheduler;
        _builder = builder;
    }

    /// <summary>Whether the source is being asked for its next item now (it may block for as long as it likes).</summary>
    public bool IsReadingSource => Volatile.Read(ref _readingSource) == 1;

    /// <summary>
    /// Reads the source to its end, then tells the job how many items there were. A source that throws ends the stream
    /// with its exception after the results of the items it gave; anything else wrong fails the job.
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        await Task.Yield();
        using var watch = _items.IsSynchronous ? new Timer(static state => ((StreamProducer<TArgs, TResult>)state!).SendIfSourceBlocks(), this, SourceWaitBeforeSending, SourceWaitBeforeSending) : null;
        long count = 0;
        try
        {
            var enumerator = _items.ReadAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
            await using (enumerator.ConfigureAwait(false))
            {
                while (true)
                {
                    // Room is reserved before the source is asked for the item, so the window's items and bytes bound what is
                    // read ahead; what was read is sent before waiting, since only its completion can make room.
                    if (!_job.Window.TryReserve())
                    {
                        Send();
                        await _job.Window.ReserveAsync(cancellationToken).ConfigureAwait(false);
                    }

                    bool more;
                    Volatile.Write(ref _readingSource, 1);
                    try
                    {
                        // Checked here so that a consumer that stopped, and then finds no read under way, knows none will start.
                        cancellationToken.ThrowIfCancellationRequested();
                        Volatile.Write(ref _inSourceSince, Stopwatch.GetTimestamp());
                        var moved = enumerator.MoveNextAsync();
                        Volatile.Write(ref _inSourceSince, 0);
                        if (!moved.IsCompleted)
                        {
                            Send();
                        }

                        more = await moved.ConfigureAwait(false);
                    }
                    catch (Exception ex) when (!(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
                    {
                        Volatile.Write(ref _inSourceSince, 0);
                        Send();
                        _job.InputFailed(count, ex);
                        return;
                    }
                    finally
                    {
                        Volatile.Write(ref _readingSource, 0);
                    }

                    if (!more)
                    {
                        break;
                    }

                    if (count == int.MaxValue)
                    {
                        throw new InvalidOperationException($"MapStreamAsync({_job.Stub.DisplayName}) takes at most {int.MaxValue} items per call.");
                    }

                    lock (_gate)
                    {
                        _job.Window.OnArguments(count, _builder.Add(enumerator.Current, count));
                        count++;
                        if (_builder.IsFull)
                        {
                            SendLocked();
                        }
                    }
                }
            }

            Send();
            _job.InputCompleted(count);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The consumer stopped or cancelled; the job already ended.
        }
        catch (Exception ex)
        {
            _job.Fail(ex);
        }
        finally
        {
            lock (_gate)
            {
                _builder.Dispose();
            }
        }
    }

    /// <summary>On the timer: sends what was read if a synchronous source has kept the reader waiting long enough.</summary>
    private void SendIfSourceBlocks()
    {
        var since = Volatile.Read(ref _inSourceSince);
        if (since == 0 || Stopwatch.GetElapsedTime(since) < SourceWaitBeforeSending)
        {
            return;
        }

        lock (_gate)
        {
            if (Volatile.Read(ref _inSourceSince) == since)
            {
                SendLocked();
            }
        }
    }

    private void Send()
    {
        lock (_gate)
        {
            SendLocked();
        }
    }

    private void SendLocked()
    {
        if (_builder.Seal() is { } chunk)
        {
            _scheduler.Enqueue(_job, chunk);
        }
    }
}
