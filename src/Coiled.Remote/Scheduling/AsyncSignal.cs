using System.Threading.Channels;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// An auto-reset signal for one waiter: <see cref="Set"/> wakes the waiter, and a set with no waiter is kept
/// until the next wait, so no wake-up is ever lost.
/// </summary>
internal sealed class AsyncSignal
{
    private readonly Channel<bool> _channel = Channel.CreateBounded<bool>(new BoundedChannelOptions(1)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
        SingleReader = true,
    });

    public void Set() => _channel.Writer.TryWrite(true);

    public ValueTask<bool> WaitAsync(CancellationToken cancellationToken) => _channel.Reader.ReadAsync(cancellationToken);
}
