using System.Security.Cryptography;
using Grpc.Core;

namespace Coiled.Remote.Worker;

/// <summary>
/// A blob on its way into the <see cref="BlobStore"/>: written to a temporary file of the store and hashed as it
/// comes, and made visible under its hash only by <see cref="Commit"/>, once its content matched that hash.
/// </summary>
internal sealed class PendingBlob
{
    private const UnixFileMode ReadOnly = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    private readonly FileStream _file;
    private readonly string _tempPath;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    public PendingBlob(byte[] sha256, long size, string tempPath)
    {
        Sha256 = sha256;
        Size = size;
        _tempPath = tempPath;
        _file = new FileStream(_tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
    }

    public byte[] Sha256 { get; }

    public long Size { get; }

    public long Received { get; private set; }

    public bool IsComplete => Received == Size;

    /// <summary>Appends the bytes at <paramref name="offset"/> of a blob declared <paramref name="size"/> bytes long.</summary>
    public async Task AppendAsync(ReadOnlyMemory<byte> data, long offset, long size, CancellationToken cancellationToken)
    {
        if (offset != Received)
        {
            throw BlobStore.Invalid($"Blob {Convert.ToHexStringLower(Sha256)}: expected a chunk at offset {Received}, got one at {offset}.");
        }

        if (size != Size || data.Length > Size - Received)
        {
            throw BlobStore.Invalid($"Blob {Convert.ToHexStringLower(Sha256)}: the chunk at offset {offset} runs past the declared size {Size}.");
        }

        _hash.AppendData(data.Span);
        await _file.WriteAsync(data, cancellationToken).ConfigureAwait(false);
        Received += data.Length;
    }

    public void Commit(string finalPath)
    {
        _file.Dispose();
        var actual = _hash.GetHashAndReset();
        if (!actual.AsSpan().SequenceEqual(Sha256))
        {
            throw new RpcException(new Status(
                StatusCode.DataLoss,
                $"Blob {Convert.ToHexStringLower(Sha256)} arrived with SHA-256 {Convert.ToHexStringLower(actual)}; it was discarded. Upload it again."));
        }

        // Another upload of the same content may have landed first; either copy is the same bytes.
        BlobStore.Seal(_tempPath, ReadOnly);
        try
        {
            File.Move(_tempPath, finalPath, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException && BlobStore.IsIntact(finalPath, Size))
        {
            // Windows replaces neither a read-only file nor one an executor has loaded; the one there is these bytes, intact.
            DeleteTemporary();
        }

        _hash.Dispose();
    }

    public void Abandon()
    {
        _file.Dispose();
        _hash.Dispose();
        DeleteTemporary();
    }

    private void DeleteTemporary()
    {
        try
        {
            if (OperatingSystem.IsWindows() && File.Exists(_tempPath))
            {
                File.SetAttributes(_tempPath, FileAttributes.Normal);
            }

            File.Delete(_tempPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A leftover temp file is harmless: names are unique and never read, and the next start sweeps it.
        }
    }
}
