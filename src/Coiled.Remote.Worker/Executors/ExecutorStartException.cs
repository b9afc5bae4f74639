namespace Coiled.Remote.Worker.Executors;

/// <summary>An executor process could not be started or did not become ready; the message says why, as a clause.</summary>
internal sealed class ExecutorStartException : Exception
{
    public ExecutorStartException(string message)
        : base(message)
    {
    }

    public ExecutorStartException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
