namespace Coiled.Remote;

/// <summary>The caller's assemblies could not be captured, uploaded or loaded on a worker.</summary>
public sealed class EnvironmentSyncException : Exception
{
    /// <summary>Creates the exception.</summary>
    public EnvironmentSyncException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
