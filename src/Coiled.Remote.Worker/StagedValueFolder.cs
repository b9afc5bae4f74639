using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;

namespace Coiled.Remote.Worker;

/// <summary>
/// The shared argument values a worker fetched from its cluster's staging storage (<c>Fetch</c> with
/// <c>shared_values</c>), in a folder of the daemon's own (<c>values/PID-WORKERID</c> in the cache, which several
/// daemons may share), verified like any blob, which executors read each value from once per stream
/// (<see cref="StagedValue"/>). Values belong to the clusters of the running daemon: its folder is deleted when it
/// ends, those of daemons that died are deleted when another starts, and when its values pass the budget those fetched
/// least recently go first, once <see cref="MinimumIdle"/> passed since they were last fetched (the executor that
/// needs a value reads it moments after its fetch, and a client that needs it again fetches it again first).
/// Thread-safe.
/// </summary>
internal sealed class StagedValueFolder : IDisposable
{
    /// <summary>Bytes of values kept before the least recently fetched are deleted: two full per-stream budgets.</summary>
    public const long DefaultBudget = 2 * WireLimits.MaxSharedValueBytes;

    /// <summary>A value fetched this recently is never deleted: an executor may be about to read it.</summary>
    public static readonly TimeSpan MinimumIdle = TimeSpan.FromMinutes(1);

    private readonly Dictionary<string, (long Size, long FetchedAt)> _values = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly long _budget;

    /// <param name="cacheDirectory">The worker's cache: the values go in <c>values/PID-WORKERID</c> there.</param>
    /// <param name="workerId">The daemon's worker id.</param>
    /// <param name="time">The clock of the values' last fetches.</param>
    /// <param name="budget">Bytes of values kept before the least recently fetched are deleted.</param>
    public StagedValueFolder(string cacheDirectory, string workerId, TimeProvider time, long budget = DefaultBudget)
    {
        _time = time;
        _budget = budget;
        var parent = Path.Combine(cacheDirectory, "values");
        BlobStore.CreatePrivateDirectory(parent);
        foreach (var folder in Directory.EnumerateDirectories(parent))
        {
            var name = Path.GetFileName(folder);
            var dash = name.IndexOf('-', StringComparison.Ordinal);
            if (dash > 0 && int.TryParse(name.AsSpan(0, dash), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid) && !IsAlive(pid))
            {
                // A daemon that died left them: no client of a live daemon refers to them.
                TryDelete(folder);
            }
        }

        Store = new BlobStore(cacheDirectory, Path.Combine("values", $"{Environment.ProcessId}-{workerId}"));
    }

    /// <summary>Where the values are, one file per SHA-256 (lowercase hex).</summary>
    public BlobStore Store { get; }

    /// <summary>Bytes of values the folder holds now.</summary>
    public long Bytes
    {
        get
        {
            lock (_values)
            {
                return _values.Values.Sum(v => v.Size);
            }
        }
    }

    /// <summary>Fetches the values the folder lacks, marks every value of the request as just fetched, then keeps to the budget.</summary>
    public async Task<UploadReply> FetchAsync(FetchRequest request, HttpClient http, CancellationToken cancellationToken)
    {
        var reply = await new BlobFetcher(Store, http, _time).FetchAsync(request, cancellationToken).ConfigureAwait(false);
        var now = _time.GetTimestamp();
        lock (_values)
        {
            foreach (var blob in request.Blobs)
            {
                _values[Convert.ToHexStringLower(blob.Sha256.Span)] = (blob.Size, now);
            }

            KeepToBudget(now);
        }

        return reply;
    }

    /// <summary>Deletes the folder: the daemon's clusters are gone.</summary>
    public void Dispose()
    {
        lock (_values)
        {
            _values.Clear();
            TryDelete(Store.Folder);
        }
    }

    private static bool IsAlive(int processId)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(processId);
            return !process.HasExited;
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    private static void TryDelete(string folder)
    {
        try
        {
            BlobStore.DeleteFolder(folder);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Another daemon's start tries again.
        }
    }

    /// <summary>Deletes the least recently fetched values, idle long enough, until the folder is within its budget (under the lock).</summary>
    private void KeepToBudget(long now)
    {
        var held = _values.Values.Sum(v => v.Size);
        foreach (var (hash, (size, fetchedAt)) in _values.OrderBy(v => v.Value.FetchedAt).ToList())
        {
            if (held <= _budget)
            {
                return;
            }

            if (_time.GetElapsedTime(fetchedAt, now) < MinimumIdle)
            {
                continue;
            }

            BlobStore.Delete(Path.Combine(Store.Folder, hash));
            _values.Remove(hash);
            held -= size;
        }
    }
}
