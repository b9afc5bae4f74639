using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text;
using Coiled.Remote.Transport;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Worker;

/// <summary>
/// Serves the bulk-data listener: after the client proves it holds the cluster token, each frame is a blob of task
/// arguments that is handed to <see cref="BulkStore"/> for the task batch that names it.
/// </summary>
internal sealed class BulkConnectionHandler(WorkerRuntime runtime, ILogger<BulkConnectionHandler> logger) : ConnectionHandler
{
    private const int MaxTokenBytes = 1024;

    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        try
        {
            if (!await AuthenticateAsync(input, connection.ConnectionClosed).ConfigureAwait(false))
            {
                logger.LogWarning("Worker {WorkerId} refused a bulk-data connection from {Remote}: wrong or missing token", runtime.WorkerId, connection.RemoteEndPoint);
                return;
            }

            while (await ReadBlobAsync(input, connection.ConnectionClosed).ConfigureAwait(false) is { } blob)
            {
                runtime.Bulk.Deliver(blob.Id, blob.Data);
            }
        }
        catch (InvalidDataException ex)
        {
            logger.LogWarning("Worker {WorkerId} closed a bulk-data connection from {Remote}: {Reason}", runtime.WorkerId, connection.RemoteEndPoint, ex.Message);
        }
        catch (Exception ex) when (ex is OperationCanceledException or ConnectionResetException or IOException)
        {
            // The client went away.
        }
    }

    private async Task<bool> AuthenticateAsync(PipeReader input, CancellationToken cancellationToken)
    {
        var expected = Encoding.UTF8.GetBytes(runtime.Options.Token);
        var header = await ReadExactlyAsync(input, 2, cancellationToken).ConfigureAwait(false);
        if (header is null)
        {
            return false;
        }

        var length = BinaryPrimitives.ReadUInt16LittleEndian(header);
        if (length > MaxTokenBytes)
        {
            return false;
        }

        var token = await ReadExactlyAsync(input, length, cancellationToken).ConfigureAwait(false);
        return token is not null && CryptographicOperations.FixedTimeEquals(token, expected);
    }

    private async Task<(ulong Id, byte[] Data)?> ReadBlobAsync(PipeReader input, CancellationToken cancellationToken)
    {
        var header = await ReadExactlyAsync(input, BulkFrame.BlobHeaderBytes, cancellationToken).ConfigureAwait(false);
        if (header is null)
        {
            return null;
        }

        var (id, length) = BulkFrame.ReadBlobHeader(header);
        if (length > runtime.Options.MaxResultBytes)
        {
            throw new InvalidDataException($"blob {id} declares {length:N0} bytes, more than the {runtime.Options.MaxResultBytes:N0} allowed");
        }

        var data = await ReadExactlyAsync(input, (int)length, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidDataException($"the connection ended inside blob {id}");
        return (id, data);
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes into a new array; null at a clean end of stream before any byte.</summary>
    private static async Task<byte[]?> ReadExactlyAsync(PipeReader input, int count, CancellationToken cancellationToken)
    {
        var data = GC.AllocateUninitializedArray<byte>(count);
        var filled = 0;
        while (filled < count)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            var take = (int)Math.Min(buffer.Length, count - filled);
            buffer.Slice(0, take).CopyTo(data.AsSpan(filled));
            filled += take;
            input.AdvanceTo(buffer.GetPosition(take));
            if (result.IsCompleted && filled < count)
            {
                if (filled == 0)
                {
                    return null;
                }

                throw new InvalidDataException($"the connection ended after {filled} of {count} bytes");
            }
        }

        return data;
    }
}
