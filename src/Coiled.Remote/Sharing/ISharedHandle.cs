namespace Coiled.Remote.Sharing;

/// <summary>What the caller's argument writer needs of a <see cref="Shared{T}"/> passed as an argument, whatever its <c>T</c>.</summary>
internal interface ISharedHandle
{
    /// <summary>The cluster that shares the value; null for a handle a worker read.</summary>
    Cluster? Cluster { get; }

    /// <summary>The value's serialized bytes and hash, as the cluster holds them; null for a handle a worker read.</summary>
    SharedValue? Shared { get; }

    bool IsDisposed { get; }

    Type ValueType { get; }
}
