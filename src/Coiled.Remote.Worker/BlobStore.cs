using System.Security.Cryptography;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Grpc.Core;

namespace Coiled.Remote.Worker;

/// <summary>
/// Content-addressed files on the worker's disk: <c>blobs/&lt;sha256&gt;</c>, in a folder only the worker's user may
/// enter (0700). A blob becomes visible only after its content was verified against its hash, so a half-written or
/// corrupted upload is never used. A stored blob is read-only (0444) and carries a fixed modification time
/// (<see cref="StoredTime"/>): anything that writes to it afterwards changes that time, and the blob is then deleted
/// and reported missing, so that it is uploaded again instead of served altered.
/// </summary>
internal sealed class BlobStore
{
    private const int HashBytes = 32;
    private const string UploadPrefix = ".upload-";

    /// <summary>The modification time every stored blob (and every file copied from one) carries; a write changes it.</summary>
    public static readonly DateTime StoredTime = new(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    private readonly string _directory;

    public BlobStore(string cacheDirectory)
    {
        _directory = Path.Combine(cacheDirectory, "blobs");
        CreatePrivateDirectory(_directory);
        CacheLeftovers.Sweep(_directory, [UploadPrefix], DateTime.UtcNow);
    }

    public string PathOf(ReadOnlySpan<byte> sha256) => Path.Combine(_directory, Convert.ToHexStringLower(sha256));

    /// <summary>
    /// Whether the blob is stored intact: present, <paramref name="size"/> bytes long and never written since it was
    /// stored. A blob found written to is deleted, so that it is uploaded again.
    /// </summary>
    public bool Contains(ReadOnlySpan<byte> sha256, long size)
    {
        var info = new FileInfo(PathOf(sha256));
        if (!info.Exists)
        {
            return false;
        }

        if (info.LastWriteTimeUtc != StoredTime)
        {
            DeleteAltered(info.FullName);
            return false;
        }

        // A size other than the stored one is the manifest's mistake: the upload it leads to is refused by its hash.
        return info.Length == size;
    }

    /// <summary>Whether the file at <paramref name="path"/> exists, is <paramref name="size"/> bytes long and still carries <see cref="StoredTime"/>.</summary>
    public static bool IsIntact(string path, long size)
    {
        var info = new FileInfo(path);
        return info.Exists && info.Length == size && info.LastWriteTimeUtc == StoredTime;
    }

    /// <summary>Makes a stored file read-only (<paramref name="mode"/>) with <see cref="StoredTime"/> as its modification time.</summary>
    public static void Seal(string path, UnixFileMode mode)
    {
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, mode);
        }
        else
        {
            File.SetAttributes(path, FileAttributes.ReadOnly);
        }

        File.SetLastWriteTimeUtc(path, StoredTime);
    }

    /// <summary>Creates <paramref name="path"/> if needed and lets only this user enter it (0700).</summary>
    public static void CreatePrivateDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
            return;
        }

        Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    /// <summary>
    /// Deletes a folder of sealed files. Windows refuses to delete a read-only file, so their attribute is cleared
    /// first there (for a hard link, also on the blob, whose fixed time still tells whether it was written to).
    /// </summary>
    public static void DeleteFolder(string folder)
    {
        if (OperatingSystem.IsWindows())
        {
            foreach (var file in new DirectoryInfo(folder).EnumerateFiles("*", SearchOption.AllDirectories))
            {
                file.Attributes &= ~FileAttributes.ReadOnly;
            }
        }

        Directory.Delete(folder, recursive: true);
    }

    private static void DeleteAltered(string path)
    {
        try
        {
            if (OperatingSystem.IsWindows())
            {
                File.SetAttributes(path, FileAttributes.Normal);
            }

            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Reported missing either way; the upload that follows replaces it.
        }
    }

    /// <summary>Receives a stream of chunks holding any number of blobs, one after another.</summary>
    public async Task<UploadReply> ReceiveAsync(IAsyncStreamReader<BlobChunk> chunks, CancellationToken cancellationToken)
    {
        var reply = new UploadReply();
        PendingBlob? pending = null;
        try
        {
            while (await chunks.MoveNext(cancellationToken).ConfigureAwait(false))
            {
                var chunk = chunks.Current;
                try
                {
                    if (pending is null)
                    {
                        pending = PendingBlob.Begin(chunk, _directory);
                    }
                    else if (!chunk.Sha256.Span.SequenceEqual(pending.Sha256))
                    {
                        throw Invalid(
                            $"Blob {Convert.ToHexStringLower(pending.Sha256)} ended after {pending.Received} of {pending.Size} bytes " +
                            $"and a chunk of blob {Convert.ToHexStringLower(chunk.Sha256.Span)} began. Send each blob's chunks in order until it is complete.");
                    }

                    await pending.AppendAsync(chunk, cancellationToken).ConfigureAwait(false);
                    if (pending.IsComplete)
                    {
                        pending.Commit(PathOf(pending.Sha256));
                        reply.BlobsStored++;
                        reply.BytesStored += pending.Size;
                        pending = null;
                    }
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    throw new RpcException(new Status(
                        StatusCode.FailedPrecondition,
                        $"The worker could not store blob {Convert.ToHexStringLower(chunk.Sha256.Span)} in its cache {_directory}: {ex.Message} " +
                        "Free space there or make it writable (coiled-remote-worker --cache-dir, LocalProcessBackend.CacheDirectory), then start again."));
                }
            }

            if (pending is not null)
            {
                throw Invalid(
                    $"The upload ended in the middle of blob {Convert.ToHexStringLower(pending.Sha256)} " +
                    $"({pending.Received} of {pending.Size} bytes). Upload the whole blob again.");
            }

            return reply;
        }
        finally
        {
            pending?.Abandon();
        }
    }

    private static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));

    private sealed class PendingBlob
    {
        private const UnixFileMode ReadOnly = UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

        private readonly FileStream _file;
        private readonly string _tempPath;
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        private PendingBlob(byte[] sha256, long size, string directory)
        {
            Sha256 = sha256;
            Size = size;
            _tempPath = Path.Combine(directory, $"{UploadPrefix}{Guid.NewGuid():N}");
            _file = new FileStream(_tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
        }

        public byte[] Sha256 { get; }

        public long Size { get; }

        public long Received { get; private set; }

        public bool IsComplete => Received == Size;

        public static PendingBlob Begin(BlobChunk chunk, string directory)
        {
            if (chunk.Sha256.Length != HashBytes)
            {
                throw Invalid($"A blob chunk's sha256 must be {HashBytes} bytes; this one has {chunk.Sha256.Length}.");
            }

            if (chunk.Size < 0)
            {
                throw Invalid($"Blob {Convert.ToHexStringLower(chunk.Sha256.Span)} declares a negative size ({chunk.Size}).");
            }

            if (chunk.Offset != 0)
            {
                throw Invalid($"Blob {Convert.ToHexStringLower(chunk.Sha256.Span)} must start at offset 0, not {chunk.Offset}.");
            }

            return new PendingBlob(chunk.Sha256.ToByteArray(), chunk.Size, directory);
        }

        public async Task AppendAsync(BlobChunk chunk, CancellationToken cancellationToken)
        {
            if (chunk.Offset != Received)
            {
                throw Invalid($"Blob {Convert.ToHexStringLower(Sha256)}: expected a chunk at offset {Received}, got one at {chunk.Offset}.");
            }

            if (chunk.Size != Size || chunk.Data.Length > Size - Received)
            {
                throw Invalid($"Blob {Convert.ToHexStringLower(Sha256)}: the chunk at offset {chunk.Offset} runs past the declared size {Size}.");
            }

            _hash.AppendData(chunk.Data.Span);
            await _file.WriteAsync(chunk.Data.Memory, cancellationToken).ConfigureAwait(false);
            Received += chunk.Data.Length;
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
            Seal(_tempPath, ReadOnly);
            try
            {
                File.Move(_tempPath, finalPath, overwrite: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException && IsIntact(finalPath, Size))
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
}
