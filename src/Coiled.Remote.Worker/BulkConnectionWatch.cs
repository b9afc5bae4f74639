using Coiled.Remote.Transport;

namespace Coiled.Remote.Worker;

/// <summary>
/// Ends an authenticated bulk-data connection that holds the worker's resources for nothing. One that was idle (no blob
/// arriving or being sent, nothing received or sent) for the idle timeout is told goodbye: the worker sends nothing
/// more on it and the client opens a new one when it next needs one, while blobs the client sent before it heard are
/// still read. One stalled inside a blob that is arriving (nothing received for the stall timeout), or told goodbye
/// and not closed by its client within the stall timeout, is closed. A blob being sent to a client that does not read
/// it keeps the connection: the client's task stream, which gRPC keepalive watches, ends that write when it ends.
/// </summary>
internal sealed class BulkConnectionWatch : IDisposable
{
    private readonly object _lock = new();
    private readonly TimeSpan _idleTimeout;
    private readonly TimeSpan _stallTimeout;
    private readonly Func<Task> _sayGoodbye;
    private readonly Action<string> _close;
    private readonly ITimer _timer;
    private bool _saidGoodbye;
    private bool _disposed;

    /// <param name="idleTimeout">How long a connection may be idle before it is told goodbye.</param>
    /// <param name="stallTimeout">How long a blob arriving may receive nothing, and a connection told goodbye may stay open, before it is closed.</param>
    /// <param name="time">The clock of both timeouts.</param>
    /// <param name="sayGoodbye">Sends the goodbye frame (and stops results from going out on the connection).</param>
    /// <param name="close">Closes the connection; gets the reason, for the log.</param>
    public BulkConnectionWatch(TimeSpan idleTimeout, TimeSpan stallTimeout, TimeProvider time, Func<Task> sayGoodbye, Action<string> close)
    {
        _idleTimeout = idleTimeout;
        _stallTimeout = stallTimeout;
        _sayGoodbye = sayGoodbye;
        _close = close;
        Activity = new BulkActivity(time, Rearm);
        _timer = time.CreateTimer(static watch => ((BulkConnectionWatch)watch!).Check(), this, idleTimeout, Timeout.InfiniteTimeSpan);
    }

    /// <summary>What the connection is doing, as its reader and the results written on it report it.</summary>
    public BulkActivity Activity { get; }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            _timer.Dispose();
        }
    }

    /// <summary>The longest the connection may go without a byte moving in its present state; infinite while a blob is sent.</summary>
    private TimeSpan Limit()
        => Activity.Arriving || _saidGoodbye ? _stallTimeout
            : Activity.Sending ? Timeout.InfiniteTimeSpan
            : _idleTimeout;

    /// <summary>A blob started or ended: the deadline is counted afresh from now, under the rule of the new state.</summary>
    private void Rearm()
    {
        lock (_lock)
        {
            if (!_disposed)
            {
                _timer.Change(Limit(), Timeout.InfiniteTimeSpan);
            }
        }
    }

    /// <summary>The deadline came: unless a byte moved since, says goodbye to an idle connection and closes a stalled one.</summary>
    private void Check()
    {
        string? closing = null;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            var limit = Limit();
            var since = Activity.SinceLastMoved;
            if (limit == Timeout.InfiniteTimeSpan || since < limit)
            {
                _timer.Change(limit == Timeout.InfiniteTimeSpan ? _idleTimeout : limit - since, Timeout.InfiniteTimeSpan);
                return;
            }

            if (Activity.Arriving)
            {
                closing = $"nothing arrived for {since.TotalSeconds:0} s in the middle of a blob (at most {_stallTimeout.TotalSeconds:0} s)";
            }
            else if (_saidGoodbye)
            {
                closing = $"the client did not close it within {_stallTimeout.TotalSeconds:0} s of the worker's goodbye";
            }
            else
            {
                _saidGoodbye = true;
                _timer.Change(_stallTimeout, Timeout.InfiniteTimeSpan);
            }
        }

        if (closing is not null)
        {
            _close(closing);
        }
        else
        {
            _ = _sayGoodbye();
        }
    }
}
