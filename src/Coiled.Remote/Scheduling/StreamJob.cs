using Coiled.Remote.Stubs;
using MessagePack;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// A streamed map: items are read and sent only while fewer than <see cref="Window"/> of them wait between the
/// source and the consumer, and results are handed out strictly in input order, so memory stays bounded however
/// long the stream is.
/// </summary>
internal sealed class StreamJob<TResult> : Job
{
    private readonly object _lock = new();
    private readonly TResult[] _values;
    private readonly Exception?[] _errors;
    private readonly bool[] _ready;
    private readonly AsyncSignal _resultReady = new();
    private readonly SemaphoreSlim _space;
    private long _next;
    private long _total = -1;
    private Exception? _fatal;

    public StreamJob(RemoteStub stub, int window, CancellationToken cancellationToken)
        : base(stub, cancellationToken)
    {
        Window = window;
        _values = new TResult[window];
        _errors = new Exception?[window];
        _ready = new bool[window];
        _space = new SemaphoreSlim(window, window);
    }

    /// <summary>Most items between reading from the source and handing the result to the consumer.</summary>
    public int Window { get; }

    /// <summary>Reserves room for one more item from the source, if there is room now.</summary>
    public bool TryReserveSpace() => _space.Wait(0);

    /// <summary>Waits until there is room for one more item from the source, and reserves it.</summary>
    public Task WaitForSpaceAsync(CancellationToken cancellationToken) => _space.WaitAsync(cancellationToken);

    /// <summary>The source ended after <paramref name="total"/> items.</summary>
    public void InputCompleted(long total)
    {
        lock (_lock)
        {
            _total = total;
        }

        Progress?.SetTotal(total);
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

                var slot = (int)(_next % Window);
                if (_ready[slot])
                {
                    var value = _values[slot];
                    var error = _errors[slot];
                    _values[slot] = default!;
                    _errors[slot] = null;
                    _ready[slot] = false;
                    _next++;
                    _space.Release();
                    if (error is not null)
                    {
                        throw error;
                    }

                    return (true, value);
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
        try
        {
            value = FormatterOf<TResult>.Read(ref reader);
        }
        catch (Exception ex)
        {
            value = default!;
            error = UnreadableResult<TResult>(index, ex);
        }

        Store(index, value, error);
    }

    /// <summary>The item's error is thrown when the consumer reaches it, in order.</summary>
    public override void OnFailure(int index, Exception error) => Store(index, default!, error);

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

    private void Store(int index, TResult value, Exception? error)
    {
        if (error is null)
        {
            Progress?.OnDone();
        }
        else
        {
            Progress?.OnFailed();
        }

        lock (_lock)
        {
            var slot = index % Window;
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
