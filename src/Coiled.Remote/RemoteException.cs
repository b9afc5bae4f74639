namespace Coiled.Remote;

/// <summary>
/// A [Remote] method threw on a worker. The original exception cannot cross the process boundary, so this one
/// carries its type name, message and stack trace as text; <see cref="Exception.InnerException"/> is null.
/// </summary>
public sealed class RemoteException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RemoteException(
        string method,
        string remoteType,
        string remoteMessage,
        string remoteStackTrace,
        string workerId,
        long itemIndex)
        : base(FormatMessage(method, remoteType, remoteMessage, workerId, itemIndex))
    {
        Method = method;
        RemoteType = remoteType;
        RemoteMessage = remoteMessage;
        RemoteStackTrace = remoteStackTrace;
        WorkerId = workerId;
        ItemIndex = itemIndex;
    }

    /// <summary>The [Remote] method, e.g. <c>Jobs.Square</c>.</summary>
    public string Method { get; }

    /// <summary>Full name of the exception type thrown on the worker, e.g. <c>System.InvalidOperationException</c>.</summary>
    public string RemoteType { get; }

    /// <summary>The message of the exception thrown on the worker.</summary>
    public string RemoteMessage { get; }

    /// <summary>The stack trace of the exception thrown on the worker.</summary>
    public string RemoteStackTrace { get; }

    /// <summary>The worker that ran the task.</summary>
    public string WorkerId { get; }

    /// <summary>The position of the failed item in the input of <c>MapAsync</c>; 0 for <c>SubmitAsync</c>.</summary>
    public long ItemIndex { get; }

    /// <inheritdoc/>
    public override string? StackTrace => RemoteStackTrace + Environment.NewLine + "--- End of remote stack trace ---" + Environment.NewLine + base.StackTrace;

    private static string FormatMessage(string method, string remoteType, string remoteMessage, string workerId, long itemIndex)
        => $"{method} threw {remoteType} on worker {workerId} (item {itemIndex}): {remoteMessage}";
}
