namespace Coiled.Remote.Worker;

/// <summary>What one worker host shares between its calls: identity, stores, activity, and how it stops.</summary>
internal sealed class WorkerRuntime
{
    private readonly TaskCompletionSource<string> _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public WorkerRuntime(WorkerHostOptions options)
    {
        Options = options;
        WorkerId = "w-" + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().AsSpan(0, 3));
        Blobs = new BlobStore(options.CacheDirectory);
        Environments = new EnvironmentCatalog(options.CacheDirectory, Blobs, options.HostEnvironment);
        Activity = new WorkerActivity(options.TimeProvider);
    }

    public WorkerHostOptions Options { get; }

    public string WorkerId { get; }

    public BlobStore Blobs { get; }

    public EnvironmentCatalog Environments { get; }

    public WorkerActivity Activity { get; }

    /// <summary>Completes with the reason once something asked the worker to stop.</summary>
    public Task<string> StopRequested => _stopped.Task;

    public void RequestStop(string reason) => _stopped.TrySetResult(reason);
}
