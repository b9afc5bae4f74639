using Coiled.Remote.Sharing;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// One item on its way through the cluster: sent to a worker (in flight) or waiting to be sent again after a
/// retry or a lost worker. <paramref name="Attempt"/> counts runs that threw; <paramref name="Deaths"/> lists the
/// workers lost while running it. <paramref name="SentAt"/> is the <see cref="System.Diagnostics.Stopwatch"/> timestamp
/// of its latest sending, taken only when its job is traced (0 otherwise). <paramref name="Shares"/> are the shared values
/// its arguments refer to, which a worker must hold before it runs it.
/// </summary>
internal readonly record struct PendingTask(Job Job, int Index, ReadOnlyMemory<byte> Arguments, int Attempt, IReadOnlyList<string>? Deaths, long SentAt = 0, SharedValue[]? Shares = null)
{
    public ulong TaskId => TaskIds.Of(Job.Id, Index);
}
