namespace Coiled.Remote.Worker.Executors;

/// <summary>One client stream's use of an executor: its connection to it, given back when the stream ends.</summary>
internal sealed class ExecutorLease(ExecutorProcess executor, ExecutorLink link) : IDisposable
{
    private int _disposed;

    public ExecutorProcess Executor { get; } = executor;

    public ExecutorLink Link { get; } = link;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Link.Dispose();
            Executor.Detach();
        }
    }
}
