namespace Coiled.Remote;

/// <summary>
/// Marks a <see langword="static"/> method as runnable on a Coiled.Remote cluster.
/// The Coiled.Remote source generator emits a serializable stub for every such method, so that
/// <c>cluster.MapAsync(Jobs.Square, items)</c> ships the call to a worker and runs it there.
/// </summary>
/// <remarks>
/// The method must be static, non-generic, take 0 to 4 serializable parameters (plus an optional
/// trailing <see cref="CancellationToken"/> that the cluster supplies), and return a serializable value,
/// <see cref="Task"/>, <see cref="Task{TResult}"/>, <see cref="ValueTask"/>, <see cref="ValueTask{TResult}"/> or nothing.
/// </remarks>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class RemoteAttribute : Attribute
{
    /// <summary>
    /// How many times a task is re-run after the method itself throws. Worker deaths never count against it.
    /// Default 0.
    /// </summary>
    public int Retries { get; set; }

    /// <summary>
    /// After this many seconds the method's <see cref="CancellationToken"/> is cancelled. 0 (the default) means no timeout.
    /// </summary>
    public int TimeoutSeconds { get; set; }
}
