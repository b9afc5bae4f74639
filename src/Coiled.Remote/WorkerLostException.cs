namespace Coiled.Remote;

/// <summary>
/// A task could not finish because the workers running it died, <see cref="ClusterOptions.MaxWorkerDeaths"/> times
/// for the same task (a poison task), or because no worker is left to run it.
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

    /// <summary>One line per worker lost while running the task: its id and how it ended.</summary>
    public IReadOnlyList<string> WorkerDeaths { get; }
}
