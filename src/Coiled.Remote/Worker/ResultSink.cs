using Coiled.Remote.Transport;

namespace Coiled.Remote.Worker;

/// <summary>
/// A client's bulk-data connection seen from the worker's result side: large result batches are written back on it
/// as blobs, one writer at a time, while the listener keeps reading argument blobs from it.
/// </summary>
internal sealed class ResultSink(Stream stream)
{
    private readonly SemaphoreSlim _writer = new(1, 1);
    private volatile bool _closed;

    /// <summary>Writes one blob; a failed write closes the connection, since a partial blob leaves it unusable.</summary>
    public async Task WriteAsync(ulong id, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        await _writer.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            await BulkFrame.WriteBlobAsync(stream, id, data, cancellationToken).ConfigureAwait(false);
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

    /// <summary>No more writes: the connection ended.</summary>
    public void Close() => _closed = true;
}
