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

    /// <param name="cacheDirectory">The worker's cache.</param>
    /// <param name="folder">The store's folder in it: <c>blobs</c> for applications' files.</param>
    public BlobStore(string cacheDirectory, string folder = "blobs")
    {
        _directory = Path.Combine(cacheDirectory, folder);
        CreatePrivateDirectory(_directory);
        CacheLeftovers.Sweep(_directory, [UploadPrefix], DateTime.UtcNow);
    }

    /// <summary>The folder of the blobs, <c>blobs</c> in the worker's cache.</summary>
    public string Folder => _directory;

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

    /// <summary>Deletes a stored blob (read-only, which Windows refuses to delete as it is); one that is gone is no error.</summary>
    public static void Delete(string path) => DeleteAltered(path);

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
                        pending = Begin(chunk.Sha256.Span, chunk.Size, chunk.Offset);
                    }
                    else if (!chunk.Sha256.Span.SequenceEqual(pending.Sha256))
                    {
                        throw Invalid(
                            $"Blob {Convert.ToHexStringLower(pending.Sha256)} ended after {pending.Received} of {pending.Size} bytes " +
                            $"and a chunk of blob {Convert.ToHexStringLower(chunk.Sha256.Span)} began. Send each blob's chunks in order until it is complete.");
                    }

                    await pending.AppendAsync(chunk.Data.Memory, chunk.Offset, chunk.Size, cancellationToken).ConfigureAwait(false);
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

    /// <summary>Begins receiving a blob into a temporary file of the store; it becomes visible only on <see cref="PendingBlob.Commit"/>.</summary>
    public PendingBlob Begin(ReadOnlySpan<byte> sha256, long size, long offset = 0)
    {
        if (sha256.Length != HashBytes)
        {
            throw Invalid($"A blob's sha256 must be {HashBytes} bytes; this one has {sha256.Length}.");
        }

        if (size < 0)
        {
            throw Invalid($"Blob {Convert.ToHexStringLower(sha256)} declares a negative size ({size}).");
        }

        if (offset != 0)
        {
            throw Invalid($"Blob {Convert.ToHexStringLower(sha256)} must start at offset 0, not {offset}.");
        }

        return new PendingBlob(sha256.ToArray(), size, Path.Combine(_directory, $"{UploadPrefix}{Guid.NewGuid():N}"));
    }

    internal static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));
}
