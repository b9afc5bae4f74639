using Coiled.Remote.Scheduling;

namespace Coiled.Remote.Tests.Scheduling;

/// <summary>A worker without a process or a connection: the scheduler's side of it is all there is.</summary>
internal sealed class FakeTaskWorker(string id, int slots) : ITaskWorker
{
    private int _wakes;

    public string Id => id;

    public Uri Address { get; } = new($"http://{id}.invalid/");

    public int Slots => slots;

    public KeyValuePair<string, object?> Tag => new("worker", id);

    public WorkerState State { get; set; } = WorkerState.Starting;

    public int Wakes => Volatile.Read(ref _wakes);

    public void Wake() => Interlocked.Increment(ref _wakes);

    public void MarkEnded()
    {
    }

    public Task<string> DescribeLossAsync(Exception? error) => Task.FromResult("was killed");
}
