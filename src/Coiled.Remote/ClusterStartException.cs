namespace Coiled.Remote;

/// <summary>The cluster could not start: workers failed to launch, connect or synchronize. Nothing is left running.</summary>
public sealed class ClusterStartException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ClusterStartException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
