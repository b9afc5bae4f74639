using Coiled.Remote.Sharing;

namespace Coiled.Remote;

/// <summary>
/// A value sent to each worker of a cluster once, whatever the number of calls and items that pass it: made by
/// <see cref="Cluster.ShareAsync{T}(T, CancellationToken)"/> and passed to [Remote] methods whose parameter is
/// <c>Shared&lt;T&gt;</c>. On a worker, <see cref="Value"/> is one object read once per worker process and handed to
/// every task there: treat it as read-only. Disposing the handle tells the workers to let go of the value.
/// </summary>
/// <typeparam name="T">The value's type.</typeparam>
public sealed class Shared<T> : IAsyncDisposable, ISharedHandle
{
    private readonly Cluster? _cluster;
    private readonly SharedValue? _shared;
    private int _disposed;

    /// <summary>The caller's handle of a value the cluster shares.</summary>
    internal Shared(T value, Cluster cluster, SharedValue shared)
    {
        Value = value;
        _cluster = cluster;
        _shared = shared;
    }

    /// <summary>A worker's handle of a value it was sent.</summary>
    internal Shared(T value) => Value = value;

    /// <summary>
    /// The value: on the caller, the object passed to <see cref="Cluster.ShareAsync{T}(T, CancellationToken)"/>; on a
    /// worker, the one object read from what the caller sent, the same for every task of the worker.
    /// </summary>
    public T Value { get; }

    Cluster? ISharedHandle.Cluster => _cluster;

    SharedValue? ISharedHandle.Shared => _shared;

    bool ISharedHandle.IsDisposed => Volatile.Read(ref _disposed) != 0;

    Type ISharedHandle.ValueType => typeof(T);

    /// <summary>
    /// Tells the cluster's workers to let go of the value once no running call passes it. Calls made with the handle
    /// afterwards throw <see cref="ArgumentException"/>; <see cref="Value"/> stays readable. On a worker, does nothing.
    /// </summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0 && _cluster is not null)
        {
            _cluster.Unshare(_shared!);
        }

        return default;
    }
}
