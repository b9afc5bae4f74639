using Coiled.Remote.Transport;
using Grpc.Core;

namespace Coiled.Remote.Worker;

/// <summary>
/// The tasks of one client stream that the worker holds: admitted, and whose outcomes have not yet been taken to be
/// sent. The client's scheduler never has more than <see cref="WireLimits.MaxTasksInFlight"/> tasks on a worker whose
/// outcomes it has not received (its credit window), and an outcome is taken before it is sent, so a client that keeps
/// to its window never passes this count; one that does (a client out of step with the worker, or one that keeps
/// sending while it stops reading results) has its stream ended with <see cref="StatusCode.ResourceExhausted"/>
/// instead of making the worker queue tasks and buffer their outcomes without end.
/// </summary>
internal sealed class TaskWindow
{
    private long _held;

    /// <summary>Tasks admitted whose outcomes were not taken yet.</summary>
    public long Held => Interlocked.Read(ref _held);

    /// <summary>Admits a batch of <paramref name="tasks"/> tasks, or refuses all of them when they would pass the window.</summary>
    /// <exception cref="RpcException"><see cref="StatusCode.ResourceExhausted"/>: the batch would pass the window.</exception>
    public void Admit(int tasks)
    {
        var held = Interlocked.Add(ref _held, tasks);
        if (held > WireLimits.MaxTasksInFlight)
        {
            Interlocked.Add(ref _held, -tasks);
            throw new RpcException(new Status(
                StatusCode.ResourceExhausted,
                $"The client sent {tasks:N0} more task(s) on a stream that already had {held - tasks:N0} whose outcomes it had not received; " +
                $"a stream may have at most {WireLimits.MaxTasksInFlight:N0}, and the stream was ended. " +
                "Use the same Coiled.Remote version on the caller and the workers: its scheduler sends only as many tasks as its credit window allows."));
        }
    }

    /// <summary>The outcomes of <paramref name="tasks"/> tasks were taken to be sent.</summary>
    public void Settle(int tasks) => Interlocked.Add(ref _held, -tasks);

    /// <summary>Settles every task still held (the stream ended) and says how many there were.</summary>
    public int SettleAll() => (int)Interlocked.Exchange(ref _held, 0);
}
