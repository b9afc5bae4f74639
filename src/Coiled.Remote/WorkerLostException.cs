namespace Coiled.Remote;

/// <summary>
/// A task could not finish because the processes running it died (whole workers, or the executor processes a worker
/// runs tasks in), <see cref="ClusterOptions.MaxWorkerDeaths"/> times for the same task (a poison task), or because no
/// worker is left to run it.
/// </summary>
public sealed class WorkerLostException : Exception
{
    /// <summary>Creates the exception.</summary>
    public WorkerLostException(string message, string method, long itemIndex, IReadOnlyList<string> workerDeaths, Exception? innerException = null)
        : base(message, innerException)
    {
        Method = method;
        ItemIndex = itemIndex;
        WorkerDeaths = workerDeaths;
    }

    /// <summary>The [Remote] method of the task.</summary>
    public string Method { get; }

    /// <summary>The position of the item in the input of the map; 0 for <c>SubmitAsync</c>.</summary>
    public long ItemIndex { get; }

    /// <summary>
    /// One line per death while the task ran: the worker's id and how it ended, or how its executor ended
    /// (<c>w-3f9a1c its executor (process 4242) ended: exit code 137 (killed by SIGKILL ...)</c>).
    /// </summary>
    public IReadOnlyList<string> WorkerDeaths { get; }
}
