namespace Coiled.Remote;

/// <summary>Where a worker is in its life.</summary>
public enum WorkerState
{
    /// <summary>Being provisioned, connected or synchronized.</summary>
    Starting,

    /// <summary>Connected, synchronized and taking tasks.</summary>
    Ready,

    /// <summary>Its connection broke or its process exited.</summary>
    Lost,

    /// <summary>Stopped by the cluster.</summary>
    Stopped,

    /// <summary>
    /// Its machine is being reclaimed by its cloud (an EC2 spot interruption notice): its tasks went back to the queue,
    /// with no death counted against them, and it gets no more.
    /// </summary>
    Interrupted,

    /// <summary>
    /// Being retired (the cluster scales down): it takes no new tasks, gave back those it had not started, and finishes
    /// those it runs.
    /// </summary>
    Retiring,

    /// <summary>Retired by the cluster (it scaled down) once its last task ended; its machine was stopped.</summary>
    Retired,
}
