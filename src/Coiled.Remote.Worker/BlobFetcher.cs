using System.Net;
using Coiled.Remote.Transport.Protocol;
using Grpc.Core;

namespace Coiled.Remote.Worker;

/// <summary>
/// Fetches blobs from the addresses a client gives, presigned GETs of the cluster's shared storage (S3 for EC2
/// clusters), so that the client uploads each distinct file once and every worker downloads it from there. Each blob
/// streams into the <see cref="BlobStore"/> through a <see cref="PendingBlob"/> and is kept only when its SHA-256
/// matches; several download at once, and one that fails for a passing reason is tried again.
/// </summary>
internal sealed class BlobFetcher(BlobStore blobs, HttpClient http, TimeProvider time)
{
    /// <summary>A download that brings no byte for this long is abandoned and tried again.</summary>
    public static readonly TimeSpan DefaultStallTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Downloads at once.</summary>
    public const int Parallelism = 8;

    /// <summary>Attempts per blob, for failures that may pass (a refused or reset connection, a 5xx answer).</summary>
    public const int Attempts = 3;

    private static readonly Lazy<HttpClient> s_http = new(() => new HttpClient(new SocketsHttpHandler
    {
        ConnectTimeout = TimeSpan.FromSeconds(30),
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        AutomaticDecompression = DecompressionMethods.None,
    })
    { Timeout = Timeout.InfiniteTimeSpan });

    /// <summary>The worker's one client for fetching: connections are pooled across requests.</summary>
    public static HttpClient SharedHttp => s_http.Value;

    /// <summary>How long a download may bring nothing (tests shorten it).</summary>
    public TimeSpan StallTimeout { get; init; } = DefaultStallTimeout;

    public async Task<UploadReply> FetchAsync(FetchRequest request, CancellationToken cancellationToken)
    {
        foreach (var blob in request.Blobs)
        {
            Validate(blob);
        }

        var stored = 0;
        long bytes = 0;
        var wanted = request.Blobs.Where(b => !blobs.Contains(b.Sha256.Span, b.Size)).GroupBy(b => b.Sha256).Select(g => g.First()).ToList();
        await Parallel.ForEachAsync(wanted, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken }, async (blob, token) =>
        {
            await FetchOneAsync(blob, token).ConfigureAwait(false);
            Interlocked.Increment(ref stored);
            Interlocked.Add(ref bytes, blob.Size);
        }).ConfigureAwait(false);
        return new UploadReply { BlobsStored = stored, BytesStored = bytes };
    }

    private static void Validate(FetchBlob blob)
    {
        if (blob.Sha256.Length != 32 || blob.Size < 0)
        {
            throw BlobStore.Invalid($"A blob to fetch needs a 32-byte sha256 and a size of 0 or more; got {blob.Sha256.Length} bytes and {blob.Size}.");
        }

        if (!Uri.TryCreate(blob.Url, UriKind.Absolute, out var address) || address.Scheme is not ("http" or "https"))
        {
            throw BlobStore.Invalid($"Blob {Convert.ToHexStringLower(blob.Sha256.Span)} has no http(s) address to fetch it from.");
        }
    }

    private async Task FetchOneAsync(FetchBlob blob, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await DownloadAsync(blob, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (attempt < Attempts && IsPassing(ex) && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500 * attempt), time, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException)
            {
                throw Failed(blob, $"{ex.Message} (after {attempt} attempt(s))", StatusCode.Unavailable);
            }
        }
    }

    private async Task DownloadAsync(FetchBlob blob, CancellationToken cancellationToken)
    {
        // A stalled answer (headers or body) is abandoned after StallTimeout without a byte, and tried again.
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stall.CancelAfter(StallTimeout);
        HttpResponseMessage answer;
        try
        {
            answer = await http.GetAsync(new Uri(blob.Url), HttpCompletionOption.ResponseHeadersRead, stall.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new IOException($"no answer within {StallTimeout.TotalSeconds:0.#} s");
        }

        using var response = answer;
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            var why = $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}: {(body.Length > 400 ? body[..400] : body).ReplaceLineEndings(" ")}";
            if ((int)response.StatusCode >= 500)
            {
                throw new HttpRequestException(why, null, response.StatusCode);
            }

            throw Failed(blob, why, StatusCode.FailedPrecondition);
        }

        var pending = blobs.Begin(blob.Sha256.Span, blob.Size);
        try
        {
            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            var buffer = new byte[1 << 16];
            int read;
            while ((read = await ReadAsync(body, buffer, stall, cancellationToken).ConfigureAwait(false)) > 0)
            {
                if (read > blob.Size - pending.Received)
                {
                    throw Failed(blob, $"the answer is longer than the blob's {blob.Size:N0} bytes", StatusCode.DataLoss);
                }

                try
                {
                    await pending.AppendAsync(buffer.AsMemory(0, read), pending.Received, blob.Size, cancellationToken).ConfigureAwait(false);
                }
                catch (IOException ex)
                {
                    // The worker's own disk (full, read-only), not the network: trying again would not help.
                    throw new RpcException(new Status(
                        StatusCode.FailedPrecondition,
                        $"The worker could not store blob {Convert.ToHexStringLower(blob.Sha256.Span)} ({blob.Size:N0} bytes) in its cache: {ex.Message} " +
                        "Free space there or make it writable (coiled-remote-worker --cache-dir), then start again."));
                }
            }

            if (!pending.IsComplete)
            {
                throw new IOException($"the answer ended after {pending.Received:N0} of {blob.Size:N0} bytes");
            }

            pending.Commit(blobs.PathOf(blob.Sha256.Span));
        }
        catch
        {
            pending.Abandon();
            throw;
        }
    }

    /// <summary>One read of the answer; a read that brings nothing for <see cref="StallTimeout"/> fails as a passing error.</summary>
    private async Task<int> ReadAsync(Stream body, byte[] buffer, CancellationTokenSource stall, CancellationToken cancellationToken)
    {
        stall.CancelAfter(StallTimeout);
        try
        {
            return await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new IOException($"no byte came for {StallTimeout.TotalSeconds:0.#} s");
        }
    }

    private static bool IsPassing(Exception ex) => ex is HttpRequestException or IOException;

    private static RpcException Failed(FetchBlob blob, string why, StatusCode code)
        => new(new Status(code,
            $"The worker could not fetch blob {Convert.ToHexStringLower(blob.Sha256.Span)} ({blob.Size:N0} bytes) from " +
            $"{new Uri(blob.Url).GetLeftPart(UriPartial.Path)}: {why}. Check that the worker can reach the cluster's storage and that the address has not expired."));
}
