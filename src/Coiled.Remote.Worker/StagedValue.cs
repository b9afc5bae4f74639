using Coiled.Remote.Transport;
using Grpc.Core;

namespace Coiled.Remote.Worker;

/// <summary>
/// A shared value that reached the worker through the cluster's staging storage (<c>ShareValue.staged</c> in
/// worker.proto): the client had the worker fetch its bytes into its folder of staged values (<see cref="StagedValueFolder"/>),
/// verified against the hash, and the stream's executor reads them from there into memory.
/// </summary>
internal static class StagedValue
{
    /// <summary>Reads the value of hash <paramref name="sha256"/> from the folder of staged values <paramref name="folder"/>.</summary>
    /// <returns>The bytes, in a pooled buffer the caller then owns.</returns>
    /// <exception cref="RpcException"><see cref="StatusCode.InvalidArgument"/>: the hash is not 32 bytes.</exception>
    /// <exception cref="RpcException">
    /// <see cref="StatusCode.FailedPrecondition"/>: the store does not hold the value intact (never fetched, deleted,
    /// or written to since), it is larger than a stream may hold, or it cannot be read.
    /// </exception>
    public static (ReadOnlyMemory<byte> Data, RentedBuffer Buffer) Read(string? folder, ReadOnlySpan<byte> sha256)
    {
        if (sha256.Length != 32)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"A staged shared value's SHA-256 has 32 bytes, not {sha256.Length}."));
        }

        var hex = Convert.ToHexStringLower(sha256);
        if (folder is null)
        {
            throw Missing(hex, "this executor was started without the worker's folder of staged values");
        }

        var info = new FileInfo(Path.Combine(folder, hex));
        if (!info.Exists || info.LastWriteTimeUtc != BlobStore.StoredTime)
        {
            throw Missing(hex, info.Exists ? "its blob was written to since it was stored" : "the worker's folder of staged values does not hold it (never fetched, or deleted to keep to its budget)");
        }

        if (info.Length > WireLimits.MaxSharedValueBytes)
        {
            throw new RpcException(new Status(
                StatusCode.FailedPrecondition,
                $"Staged shared value {hex} has {info.Length:N0} bytes; a stream holds at most {WireLimits.MaxSharedValueBytes:N0}. Use the same Coiled.Remote version on the caller and the workers."));
        }

        var size = (int)info.Length;
        var buffer = RentedBuffer.Rent(Math.Max(size, 1));
        try
        {
            using var file = new FileStream(info.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
            file.ReadExactly(buffer.Array, 0, size);
            return (buffer.Array.AsMemory(0, size), buffer);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            buffer.Release();
            throw Missing(hex, ex.Message);
        }
    }

    private static RpcException Missing(string hex, string why) => new(new Status(
        StatusCode.FailedPrecondition,
        $"The client sent shared value {hex} as fetched into this worker's folder of staged values, but it cannot be read from there: {why}. " +
        "Leave the worker's cache folder alone while the worker runs, and use the same Coiled.Remote version on the caller and the workers."));
}
