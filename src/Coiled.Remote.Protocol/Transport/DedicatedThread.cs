namespace Coiled.Remote.Transport;

/// <summary>Runs a blocking loop (a link's reads) on a background thread of its own, as a task.</summary>
internal static class DedicatedThread
{
    /// <summary>Starts <paramref name="body"/> on a new background thread; the task ends with what it returns or throws.</summary>
    public static Task<T> Run<T>(string name, Func<T> body)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                done.SetResult(body());
            }
            catch (Exception ex)
            {
                done.SetException(ex);
            }
        })
        {
            IsBackground = true,
            Name = name,
        };
        thread.Start();
        return done.Task;
    }
}
