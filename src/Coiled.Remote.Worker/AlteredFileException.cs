namespace Coiled.Remote.Worker;

/// <summary>
/// A file of a cached environment that was written to since the worker cached it, refused by
/// <see cref="EnvironmentLoadContext"/>. The runtime reports a refused load as a <see cref="FileLoadException"/> of its
/// own with this one inside; what reports a task's failure (still a <see cref="FileLoadException"/>) takes this one's
/// message, which says what to do.
/// </summary>
internal sealed class AlteredFileException : FileLoadException
{
    /// <param name="path">The altered file.</param>
    public AlteredFileException(string path)
        : base(
            $"{path} was written to after the worker cached it (a task wrote to the same cached file through another environment of this worker, " +
            "as root or after making it writable), so it is not loaded. Start the cluster again: its synchronization uploads the file again, " +
            "and the worker lays the environment out anew.",
            path)
    {
    }

    /// <summary>The exception that says why <paramref name="exception"/> happened: the altered file inside a failed load, else itself.</summary>
    public static Exception Cause(Exception exception) => exception.InnerException as AlteredFileException ?? exception;
}
