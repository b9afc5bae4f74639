using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Google.Protobuf;
using Grpc.Core;

namespace Coiled.Remote.Synchronization;

/// <summary>Brings one worker up to date with a snapshot: asks what it lacks, uploads only that, chunked.</summary>
internal static class EnvironmentUploader
{
    /// <summary>What one synchronization did.</summary>
    public readonly record struct Outcome(string EnvironmentId, int BlobsSent, long BytesSent);

    public static async Task<Outcome> SyncAsync(
        Transport.Protocol.Worker.WorkerClient client, EnvironmentSnapshot snapshot, CallOptions call, CancellationToken cancellationToken)
    {
        var plan = await client.PlanSyncAsync(new SyncPlanRequest { Manifest = snapshot.Manifest }, call.WithCancellationToken(cancellationToken)).ConfigureAwait(false);
        if (plan.Missing.Count == 0)
        {
            return new Outcome(plan.EnvironmentId, 0, 0);
        }

        long sent = 0;
        using var upload = client.Upload(call.WithCancellationToken(cancellationToken));
        var buffer = new byte[WireLimits.UploadChunkBytes];
        foreach (var hash in plan.Missing)
        {
            var hex = Convert.ToHexStringLower(hash.Span);
            if (!snapshot.BlobPaths.TryGetValue(hex, out var path))
            {
                throw new EnvironmentSyncException($"The worker asked for blob {hex}, which is not part of this application's manifest.");
            }

            await using var file = Open(path);
            var size = file.Length;
            long offset = 0;
            do
            {
                var read = await file.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (read == 0 && offset < size)
                {
                    throw new EnvironmentSyncException($"{path} shrank while it was being uploaded; rebuild finished? Start the cluster again.");
                }

                await upload.RequestStream.WriteAsync(new BlobChunk
                {
                    Sha256 = hash,
                    Size = size,
                    Offset = offset,
                    Data = ByteString.CopyFrom(buffer, 0, read),
                }, cancellationToken).ConfigureAwait(false);
                offset += read;
            }
            while (offset < size);

            sent += size;
        }

        await upload.RequestStream.CompleteAsync().ConfigureAwait(false);
        await upload.ResponseAsync.ConfigureAwait(false);
        return new Outcome(plan.EnvironmentId, plan.Missing.Count, sent);
    }

    /// <summary>Opens a file of the application for reading, whatever other readers and writers it has.</summary>
    /// <exception cref="EnvironmentSyncException">It cannot be opened: gone, or held open by a process that lets no one else read it.</exception>
    private static FileStream Open(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16, useAsync: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new EnvironmentSyncException(
                $"The application file {path} could not be read for upload: {ex.Message} It was readable moments before, when it was hashed: " +
                "a rebuild or a process that opened it since (without letting others read it) is in the way. Start the cluster again once it is done.", ex);
        }
    }
}
