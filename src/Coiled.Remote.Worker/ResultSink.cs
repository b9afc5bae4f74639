using Coiled.Remote.Transport;

namespace Coiled.Remote.Worker;

/// <summary>
/// A client's bulk-data connection seen from the worker's result side: large result batches are written back on it
/// as blobs, one writer at a time, while the listener keeps reading argument blobs from it.
/// </summary>
/// <param name="stream">The connection.</param>
/// <param name="activity">Told of every blob written, so that a connection sending results is never taken for an idle one.</param>
internal sealed class ResultSink(Stream stream, BulkActivity activity)
{
    private readonly SemaphoreSlim _writer = new(1, 1);
    private volatile bool _closed;

    /// <summary>Writes one blob; a failed write closes the connection, since a partial blob leaves it unusable.</summary>
    /// <exception cref="ObjectDisposedException">The connection ended, or the worker said goodbye on it.</exception>
    public async Task WriteAsync(ulong id, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await _writer.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            await BulkFrame.WriteBlobAsync(stream, id, data, activity, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Close();
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        finally
        {
            _writer.Release();
        }
    }

    /// <summary>
    /// Writes the goodbye frame once no blob is being written, and nothing after it: the client opens a new connection
    /// when it next needs one. False when the connection had already ended.
    /// </summary>
    public async Task<bool> SayGoodbyeAsync()
    {
        await _writer.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_closed)
            {
                return false;
            }

            Close();
            await stream.WriteAsync(BulkFrame.Goodbye.ToArray()).ConfigureAwait(false);
            await stream.FlushAsync().ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
            // The connection broke meanwhile; its reader sees that too.
            return false;
        }
        finally
        {
            _writer.Release();
        }
    }

    /// <summary>No more writes: the connection ended.</summary>
    public void Close() => _closed = true;
}
