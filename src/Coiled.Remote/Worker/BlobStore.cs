using System.Security.Cryptography;
using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Grpc.Core;

namespace Coiled.Remote.Worker;

/// <summary>
/// Content-addressed files on the worker's disk: <c>blobs/&lt;sha256&gt;</c>. A blob becomes visible only after its
/// content was verified against its hash, so a half-written or corrupted upload is never used.
/// </summary>
internal sealed class BlobStore
{
    private const int HashBytes = 32;
    private readonly string _directory;

    public BlobStore(string cacheDirectory)
    {
        _directory = Path.Combine(cacheDirectory, "blobs");
        Directory.CreateDirectory(_directory);
    }

    public string PathOf(ReadOnlySpan<byte> sha256) => Path.Combine(_directory, Convert.ToHexStringLower(sha256));

    public bool Contains(ReadOnlySpan<byte> sha256) => File.Exists(PathOf(sha256));

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
        private readonly FileStream _file;
        private readonly string _tempPath;
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        private PendingBlob(byte[] sha256, long size, string directory)
        {
            Sha256 = sha256;
            Size = size;
            _tempPath = Path.Combine(directory, $".upload-{Guid.NewGuid():N}");
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
            File.Move(_tempPath, finalPath, overwrite: true);
            _hash.Dispose();
        }

        public void Abandon()
        {
            _file.Dispose();
            _hash.Dispose();
            try
            {
                File.Delete(_tempPath);
            }
            catch (IOException)
            {
                // A leftover temp file is harmless: names are unique and never read.
            }
        }
    }
}
