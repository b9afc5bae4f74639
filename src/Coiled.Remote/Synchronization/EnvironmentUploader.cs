using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;
using Google.Protobuf;
using Grpc.Core;

namespace Coiled.Remote.Synchronization;

/// <summary>
/// Brings one worker up to date with a snapshot: asks what it lacks, then uploads only that, chunked, or, where the
/// cluster has shared storage (<see cref="IBlobStaging"/>), stages it there and has the worker fetch it.
/// </summary>
internal static class EnvironmentUploader
{
    /// <summary>What one synchronization did: blobs and bytes the caller sent the worker, and those the worker fetched from staging.</summary>
    public readonly record struct Outcome(string EnvironmentId, int BlobsSent, long BytesSent, int BlobsFetched = 0, long BytesFetched = 0);

    public static async Task<Outcome> SyncAsync(
        Transport.Protocol.Worker.WorkerClient client, EnvironmentSnapshot snapshot, CallOptions call, IBlobStaging? staging, CancellationToken cancellationToken)
    {
        var plan = await client.PlanSyncAsync(new SyncPlanRequest { Manifest = snapshot.Manifest }, call.WithCancellationToken(cancellationToken)).ConfigureAwait(false);
        if (plan.Missing.Count == 0)
        {
            return new Outcome(plan.EnvironmentId, 0, 0);
        }

        if (staging is not null)
        {
            return await FetchAsync(client, snapshot, call, staging, plan, cancellationToken).ConfigureAwait(false);
        }

        if (await TryUploadInlineAsync(client, snapshot, call, plan, cancellationToken).ConfigureAwait(false) is { } inline)
        {
            return inline;
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

    /// <summary>
    /// Uploads the missing blobs in one unary call when they are small in all (<see cref="WireLimits.InlineUploadBytes"/>);
    /// null, having sent nothing, when they are not.
    /// </summary>
    private static async Task<Outcome?> TryUploadInlineAsync(
        Transport.Protocol.Worker.WorkerClient client, EnvironmentSnapshot snapshot, CallOptions call, SyncPlanReply plan, CancellationToken cancellationToken)
    {
        var paths = new List<string>(plan.Missing.Count);
        long total = 0;
        foreach (var hash in plan.Missing)
        {
            var hex = Convert.ToHexStringLower(hash.Span);
            if (!snapshot.BlobPaths.TryGetValue(hex, out var path))
            {
                throw new EnvironmentSyncException($"The worker asked for blob {hex}, which is not part of this application's manifest.");
            }

            total += new FileInfo(path).Length;
            if (total > WireLimits.InlineUploadBytes)
            {
                return null;
            }

            paths.Add(path);
        }

        var batch = new BlobBatch();
        for (var i = 0; i < paths.Count; i++)
        {
            byte[] data;
            await using (var file = Open(paths[i]))
            {
                // Read whole; a file rewritten since it was hashed fails the worker's check of its hash.
                data = new byte[file.Length];
                await file.ReadExactlyAsync(data, cancellationToken).ConfigureAwait(false);
            }

            batch.Blobs.Add(new BlobChunk { Sha256 = plan.Missing[i], Size = data.Length, Offset = 0, Data = UnsafeByteOperations.UnsafeWrap(data) });
        }

        var reply = await client.UploadBlobsAsync(batch, call.WithCancellationToken(cancellationToken)).ConfigureAwait(false);
        return new Outcome(plan.EnvironmentId, reply.BlobsStored, reply.BytesStored);
    }

    /// <summary>Stages what the worker lacks (each distinct file once per cluster) and has the worker fetch it from there.</summary>
    private static async Task<Outcome> FetchAsync(
        Transport.Protocol.Worker.WorkerClient client, EnvironmentSnapshot snapshot, CallOptions call, IBlobStaging staging, SyncPlanReply plan, CancellationToken cancellationToken)
    {
        var blobs = await Task.WhenAll(plan.Missing.Select(async hash =>
        {
            var hex = Convert.ToHexStringLower(hash.Span);
            if (!snapshot.BlobPaths.TryGetValue(hex, out var path))
            {
                throw new EnvironmentSyncException($"The worker asked for blob {hex}, which is not part of this application's manifest.");
            }

            var size = new FileInfo(path).Length;
            var address = await staging.StageAsync(hex, path, size, cancellationToken).ConfigureAwait(false);
            return new FetchBlob { Sha256 = hash, Size = size, Url = address.AbsoluteUri };
        })).ConfigureAwait(false);

        var request = new FetchRequest();
        request.Blobs.AddRange(blobs);
        var reply = await client.FetchAsync(request, call.WithCancellationToken(cancellationToken)).ConfigureAwait(false);
        return new Outcome(plan.EnvironmentId, 0, 0, reply.BlobsStored, reply.BytesStored);
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
