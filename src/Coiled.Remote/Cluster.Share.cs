using Coiled.Remote.Serialization;
using Coiled.Remote.Sharing;
using Coiled.Remote.Transport;
using MessagePack;

namespace Coiled.Remote;

public sealed partial class Cluster
{
    /// <summary>
    /// Serializes <paramref name="value"/> once and returns a handle to pass to [Remote] methods whose parameter is
    /// <see cref="Shared{T}"/>: the value then goes to each worker once, before the first task there that passes it,
    /// however many calls and items pass the handle, and every task of a worker gets the same object. Dispose the handle
    /// to have the workers let go of it; disposing the cluster does too.
    /// </summary>
    /// <typeparam name="T">The value's type: one a [Remote] method's parameter could have.</typeparam>
    /// <param name="value">The value; later changes to it are not seen by the workers.</param>
    /// <param name="cancellationToken">Cancels before the value is serialized.</param>
    /// <returns>The handle, whose <see cref="Shared{T}.Value"/> is <paramref name="value"/>.</returns>
    /// <exception cref="ArgumentException">
    /// The value cannot be serialized, or is larger than what a worker keeps of shared values (1 GiB); nothing was sent.
    /// </exception>
    /// <exception cref="ObjectDisposedException">The cluster was disposed.</exception>
    public Task<Shared<T>> ShareAsync<T>(T value, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<Shared<T>>(cancellationToken);
        }

        var buffer = new GrowableBuffer(4096);
        try
        {
            var writer = new MessagePackWriter(buffer);
            try
            {
                RemoteSerializer.Options.Resolver.GetFormatterWithVerify<T>().Serialize(ref writer, value, RemoteSerializer.Options);
                writer.Flush();
            }
            catch (Exception ex)
            {
                throw new ArgumentException(
                    ex is UnsendableValueException unsendable
                        ? unsendable.Describe($"The value passed to ShareAsync<{TypeNames.Of(typeof(T))}>", "type argument")
                        : $"The value passed to ShareAsync<{TypeNames.Of(typeof(T))}> cannot be serialized with MessagePack: {ex.GetBaseException().Message} " +
                            "Pass records, classes with public properties, collections, enums or primitives.",
                    nameof(value),
                    ex);
            }

            if (buffer.WrittenCount > _scheduler.SharedValueBytes)
            {
                throw new ArgumentException(
                    $"The value passed to ShareAsync<{TypeNames.Of(typeof(T))}> is {buffer.WrittenCount:N0} bytes serialized; each worker keeps at most " +
                    $"{_scheduler.SharedValueBytes:N0} bytes of shared values, so it cannot be sent. Nothing was sent. Share a smaller value, or put the data " +
                    "in storage the workers can read and pass its location.",
                    nameof(value));
            }

            var shared = _scheduler.Share(SharedValue.Of(buffer.WrittenSpan));
            return Task.FromResult(new Shared<T>(value, this, shared));
        }
        finally
        {
            buffer.Release();
        }
    }

    /// <summary>A handle was disposed: its value is let go of once no call passes it.</summary>
    internal void Unshare(SharedValue shared) => _scheduler.Unshare(shared);
}
