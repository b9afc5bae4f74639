namespace Coiled.Remote.Worker;

/// <summary>
/// What a worker is doing, for its watchdog: how many clients are connected, how many tasks run, and when either
/// last changed. Times come from a <see cref="TimeProvider"/> so that the timeouts can be tested exactly.
/// </summary>
internal sealed class WorkerActivity(TimeProvider time)
{
    private int _clients;
    private int _clientSeen;
    private int _running;
    private long _lastClientSeen = time.GetTimestamp();
    private long _lastWork = time.GetTimestamp();

    public int ConnectedClients => Volatile.Read(ref _clients);

    public int RunningTasks => Volatile.Read(ref _running);

    /// <summary>Whether any client has connected since the worker started.</summary>
    public bool ClientSeen => Volatile.Read(ref _clientSeen) != 0;

    public IDisposable ClientConnected()
    {
        Interlocked.Increment(ref _clients);
        Volatile.Write(ref _clientSeen, 1);
        Touch(ref _lastClientSeen);
        Touch(ref _lastWork);
        return new Connection(this);
    }

    public void TaskQueued() => Touch(ref _lastWork);

    public void TaskStarted()
    {
        Interlocked.Increment(ref _running);
        Touch(ref _lastWork);
    }

    public void TaskFinished()
    {
        Interlocked.Decrement(ref _running);
        Touch(ref _lastWork);
    }

    /// <summary>Tasks handed to an executor process: they count as running until their outcomes come back.</summary>
    public void TasksForwarded(int count)
    {
        Interlocked.Add(ref _running, count);
        Touch(ref _lastWork);
    }

    /// <summary>Outcomes that came back from an executor process, or tasks that never will (their stream ended).</summary>
    public void TasksReturned(int count)
    {
        Interlocked.Add(ref _running, -count);
        Touch(ref _lastWork);
    }

    /// <summary>How long no client has been connected; zero while one is.</summary>
    public TimeSpan WithoutClient()
        => ConnectedClients > 0 ? TimeSpan.Zero : time.GetElapsedTime(Volatile.Read(ref _lastClientSeen));

    /// <summary>How long no task has been queued or running; zero while one runs.</summary>
    public TimeSpan WithoutWork()
        => RunningTasks > 0 ? TimeSpan.Zero : time.GetElapsedTime(Volatile.Read(ref _lastWork));

    private void Touch(ref long field) => Volatile.Write(ref field, time.GetTimestamp());

    private sealed class Connection(WorkerActivity owner) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                owner.Touch(ref owner._lastClientSeen);
                Interlocked.Decrement(ref owner._clients);
            }
        }
    }
}
