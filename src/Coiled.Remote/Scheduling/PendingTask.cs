namespace Coiled.Remote.Scheduling;

/// <summary>
/// One item on its way through the cluster: sent to a worker (in flight) or waiting to be sent again after a
/// retry or a lost worker. <paramref name="Attempt"/> counts runs that threw; <paramref name="Deaths"/> lists the
/// workers lost while running it.
/// </summary>
internal readonly record struct PendingTask(Job Job, int Index, ReadOnlyMemory<byte> Arguments, int Attempt, IReadOnlyList<string>? Deaths)
{
    public ulong TaskId => TaskIds.Of(Job.Id, Index);
}
