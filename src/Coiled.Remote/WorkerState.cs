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
}
