using Coiled.Remote.Stubs;
using MessagePack;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// A streamed map: items are read and sent only while its <see cref="Window"/> has room, in items and in bytes of
/// arguments and results, and results are handed out strictly in input order, so memory stays bounded however long
/// the stream is (see <see cref="ClusterOptions.StreamWindowBytes"/>).
/// </summary>
internal sealed class StreamJob<TResult> : Job
{
    private readonly object _lock = new();
    private readonly TResult[] _values;
    private readonly Exception?[] _errors;
    private readonly bool[] _ready;
    private readonly AsyncSignal _resultReady = new();
    private long _next;
    private long _total = -1;
    private Exception? _fatal;
    private Exception? _sourceError;

    public StreamJob(RemoteStub stub, StreamWindow window, CancellationToken cancellationToken)
        : base(stub, cancellationToken)
    {
        Window = window;
        _values = new TResult[window.MaxItems];
        _errors = new Exception?[window.MaxItems];
        _ready = new bool[window.MaxItems];
    }

    /// <summary>What the stream holds between its source and its consumer, and when the source may be read again.</summary>
    public StreamWindow Window { get; }

    public override long TotalItems => Interlocked.Read(ref _total);

    /// <summary>A stream lasts as long as its source: it holds a shared value only while items that pass it are queued or running.</summary>
    protected override bool ReleasesSharesPerItem => true;

    /// <summary>The source ended after <paramref name="total"/> items.</summary>
    public void InputCompleted(long total)
    {
        // The tracker learns the total before the consumer can see the stream end, so the final report carries it.
        Progress?.SetTotal(total);
        lock (_lock)
        {
            _total = total;
        }

        _resultReady.Set();
    }

    /// <summary>
    /// The source threw after giving <paramref name="count"/> items: their results are handed out first, in order, and
    /// then <paramref name="error"/> ends the stream.
    /// </summary>
    public void InputFailed(long count, Exception error)
    {
        Progress?.SetTotal(count);
        lock (_lock)
        {
            _total = count;
            _sourceError = error;
        }

        _resultReady.Set();
    }

    /// <summary>Waits for the next result in input order; false when the stream is complete.</summary>
    public async ValueTask<(bool HasValue, TResult Value)> NextAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            lock (_lock)
            {
                if (_fatal is not null)
                {
                    throw _fatal;
                }

                var slot = (int)(_next % Window.MaxItems);
                if (_ready[slot])
                {
                    var value = _values[slot];
                    var error = _errors[slot];
                    _values[slot] = default!;
                    _errors[slot] = null;
                    _ready[slot] = false;
                    Window.OnTaken(_next);
                    _next++;
                    if (error is not null)
                    {
                        throw error;
                    }

                    return (true, value);
                }

                if (_total >= 0 && _next == _total && _sourceError is { } sourceError)
                {
                    Fail(sourceError);
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(sourceError);
                }

                if (_total >= 0 && _next == _total)
                {
                    if (TryFinish())
                    {
                        NotifyCompleted();
                    }

                    return (false, default!);
                }
            }

            await _resultReady.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public override void OnResult(int index, ref MessagePackReader reader)
    {
        TResult value;
        Exception? error = null;
        var start = reader.Consumed;
        try
        {
            value = DeclaredResult<TResult>.Read(Stub, ref reader);
        }
        catch (Exception ex)
        {
            value = default!;
            error = UnreadableResult<TResult>(index, ex);
        }

        // An unreadable result keeps only its error.
        Store(index, value, error, error is null ? (int)(reader.Consumed - start) : 0);
    }

    /// <summary>The item's error is thrown when the consumer reaches it, in order.</summary>
    public override void OnFailure(int index, Exception error) => Store(index, default!, error, 0);

    public override void Fail(Exception error)
    {
        lock (_lock)
        {
            _fatal ??= error;
        }

        _resultReady.Set();
        if (TryFinish())
        {
            NotifyFinished();
        }
    }

    private void Store(int index, TResult value, Exception? error, int resultBytes)
    {
        if (error is null)
        {
            Progress?.OnDone();
        }
        else
        {
            Progress?.OnFailed();
        }

        Window.OnCompleted(index, resultBytes, failed: error is not null);
        lock (_lock)
        {
            var slot = index % Window.MaxItems;
            _values[slot] = value;
            _errors[slot] = error;
            _ready[slot] = true;
            if (index != _next)
            {
                return;
            }
        }

        _resultReady.Set();
    }
}
