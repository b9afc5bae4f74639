using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote;

/// <summary>
/// Workers as <c>coiled-remote-worker</c> processes on this machine, reached over gRPC on loopback. The default
/// backend. Each worker watches its standard input, which this process holds open: when this process ends, even
/// by SIGKILL, the pipe closes and the workers exit. The workers of a named cluster with a
/// <see cref="ClusterOptions.KeepAlive"/> do not: they outlive this process, Ctrl+C included, until they have been
/// without a client for that long.
/// </summary>
public sealed class LocalProcessBackend : IClusterBackend, KeptClusters.IKeepingBackend
{
    /// <summary>File name of the worker daemon's entry assembly.</summary>
    internal const string WorkerAssemblyName = "coiled-remote-worker.dll";

    /// <summary>Line prefix the worker prints on standard output once it listens.</summary>
    internal const string ListeningPrefix = "coiled-remote-worker listening on ";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(3);

    /// <summary>The longest <see cref="ClusterOptions.KeepAlive"/> of local workers unless <see cref="ClusterOptions.MaxKeepAlive"/> says otherwise.</summary>
    internal static readonly TimeSpan DefaultMaxKeepAlive = TimeSpan.FromHours(2);

    /// <summary>How long a kept worker waits for its first client: the start's own timeout, and as long again.</summary>
    private static readonly TimeSpan KeptFirstClientTimeout = StartTimeout * 2;

    private readonly List<WorkerProcess> _workers = [];
    private readonly Dictionary<Uri, WorkerProcess> _byAddress = [];
    private bool _kept;

    /// <inheritdoc/>
    public string Name => KeptKind;

    /// <summary>What the registry of named clusters calls local workers.</summary>
    internal const string KeptKind = "local processes";

    /// <inheritdoc/>
    public int DefaultWorkerCount => Environment.ProcessorCount;

    /// <inheritdoc/>
    public decimal? Cost => 0m;

    /// <summary>
    /// Path of <c>coiled-remote-worker.dll</c>. Default: the <c>COILED_REMOTE_WORKER</c> environment variable, else the
    /// copy the Coiled.Remote package puts in the application's output folder.
    /// </summary>
    public string? WorkerPath { get; init; }

    /// <summary>
    /// Where workers keep synchronized files. Default: <c>%LOCALAPPDATA%\coiled-remote</c> on Windows,
    /// <c>~/Library/Caches/coiled-remote</c> on macOS, <c>$XDG_CACHE_HOME/coiled-remote</c> or <c>~/.cache/coiled-remote</c> on Linux.
    /// </summary>
    public string? CacheDirectory { get; init; }

    /// <summary>Execution slots per worker, 1 to 4096. Default: the processors of this machine shared among the workers.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 1 or above 4096.</exception>
    public int? SlotsPerWorker
    {
        get;
        init => field = value is null or (>= 1 and <= Transport.WireLimits.MaxSlots)
            ? value
            : throw new ArgumentOutOfRangeException(
                nameof(SlotsPerWorker), value, $"LocalProcessBackend.SlotsPerWorker must be from 1 to {Transport.WireLimits.MaxSlots}, or null for the processors of this machine shared among the workers.");
    }

    /// <summary>How long each worker keeps an environment's executor process without a client (tests and benchmarks shorten it); default the worker's own.</summary>
    internal TimeSpan? ExecutorIdleTimeout { get; init; }

    /// <summary>How long each worker keeps a spare executor no client took, and its edit-and-run window (benchmarks shorten it); default the worker's own.</summary>
    internal TimeSpan? SpareTimeout { get; init; }

    /// <summary>Process ids of the workers started so far (for diagnostics and tests).</summary>
    public IReadOnlyList<int> ProcessIds => [.. _workers.Select(w => w.Process.Id)];

    /// <inheritdoc/>
    public async Task<IReadOnlyList<WorkerEndpoint>> StartWorkersAsync(WorkerLaunch launch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(launch);
        var worker = FindWorker();
        var cache = CacheDirectory ?? DefaultCacheDirectory();
        Directory.CreateDirectory(cache);
        var slots = SlotsPerWorker ?? Math.Max(1, Environment.ProcessorCount / launch.Count);
        var logger = launch.LoggerFactory.CreateLogger<LocalProcessBackend>();
        var starting = Enumerable.Range(0, launch.Count).Select(_ => StartOneAsync(worker, cache, slots, launch, logger, cancellationToken)).ToList();
        try
        {
            return await Task.WhenAll(starting).ConfigureAwait(false);
        }
        catch
        {
            await DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Starts <see cref="WorkerLaunch.Count"/> worker processes at once and yields each one's endpoint as soon as that
    /// worker listens. A worker that fails to start stops the ones not yet yielded and ends the sequence with its error.
    /// </summary>
    public async IAsyncEnumerable<WorkerEndpoint> StartWorkersStreamingAsync(WorkerLaunch launch, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(launch);
        var worker = FindWorker();
        var cache = CacheDirectory ?? DefaultCacheDirectory();
        Directory.CreateDirectory(cache);
        var slots = SlotsPerWorker ?? Math.Max(1, Environment.ProcessorCount / launch.Count);
        var logger = launch.LoggerFactory.CreateLogger<LocalProcessBackend>();
        using var starting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var launched = new List<WorkerProcess>();
        var pending = Enumerable.Range(0, launch.Count).Select(_ => StartOneAsync(worker, cache, slots, launch, logger, starting.Token, launched)).ToList();
        var yielded = new List<WorkerEndpoint>();
        while (pending.Count > 0)
        {
            WorkerEndpoint endpoint;
            try
            {
                var done = await Task.WhenAny(pending).ConfigureAwait(false);
                pending.Remove(done);
                endpoint = await done.ConfigureAwait(false);
            }
            catch
            {
                await starting.CancelAsync().ConfigureAwait(false);
                await Task.WhenAll(pending.Select(p => p.ContinueWith(_ => { }, TaskScheduler.Default))).ConfigureAwait(false);
                List<WorkerProcess> unyielded;
                lock (_workers)
                {
                    unyielded = [.. launched.Where(w => !yielded.Any(e => ReferenceEquals(e.Exited, w.Exited)))];
                    _workers.RemoveAll(unyielded.Contains);
                }

                await Task.WhenAll(unyielded.Select(w => w.StopAsync(StopGrace))).ConfigureAwait(false);
                throw;
            }

            yielded.Add(endpoint);
            yield return endpoint;
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        WorkerProcess[] workers;
        bool kept;
        lock (_workers)
        {
            workers = [.. _workers];
            kept = _kept;
            _workers.Clear();
            _byAddress.Clear();
        }

        if (kept)
        {
            foreach (var worker in workers)
            {
                worker.Release();
            }

            return;
        }

        await Task.WhenAll(workers.Select(w => w.StopAsync(StopGrace))).ConfigureAwait(false);
    }

    string KeptClusters.IKeepingBackend.Kind => KeptKind;

    TimeSpan KeptClusters.IKeepingBackend.DefaultMaxKeepAlive => DefaultMaxKeepAlive;

    string KeptClusters.IKeepingBackend.RegistryDirectory => Path.Combine(CacheDirectory ?? DefaultCacheDirectory(), "clusters");

    KeptClusters.RegisteredWorker? KeptClusters.IKeepingBackend.Describe(WorkerEndpoint endpoint)
    {
        lock (_workers)
        {
            if (!_byAddress.TryGetValue(endpoint.Address, out var worker))
            {
                return null;
            }

            try
            {
                return new KeptClusters.RegisteredWorker(endpoint.Address) { ProcessId = worker.Process.Id, ProcessStartedAt = worker.Process.StartTime };
            }
            catch (InvalidOperationException)
            {
                // It ended.
                return null;
            }
        }
    }

    IReadOnlyDictionary<string, string> KeptClusters.IKeepingBackend.Properties => System.Collections.Immutable.ImmutableDictionary<string, string>.Empty;

    Task<IReadOnlyList<WorkerEndpoint>> KeptClusters.IKeepingBackend.AdoptAsync(
        KeptClusters.RegisteredCluster cluster, TimeSpan keepAlive, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        var logger = loggerFactory.CreateLogger<LocalProcessBackend>();
        var endpoints = new List<WorkerEndpoint>();
        foreach (var registered in cluster.Workers)
        {
            if (registered is not { ProcessId: { } id, ProcessStartedAt: { } startedAt } || WorkerProcess.Adopt(id, startedAt, registered.Address, logger) is not { } worker)
            {
                continue;
            }

            lock (_workers)
            {
                _workers.Add(worker);
                _byAddress[registered.Address] = worker;
            }

            endpoints.Add(new WorkerEndpoint(registered.Address) { Exited = worker.Exited, Abandon = worker.Kill });
        }

        return Task.FromResult<IReadOnlyList<WorkerEndpoint>>(endpoints);
    }

    void KeptClusters.IKeepingBackend.Registered()
    {
        // Kept local workers ignore the terminal's interrupt from their start: nothing to change.
    }

    void KeptClusters.IKeepingBackend.Keep()
    {
        lock (_workers)
        {
            _kept = true;
        }
    }

    private async Task<WorkerEndpoint> StartOneAsync(
        string worker, string cache, int slots, WorkerLaunch launch, ILogger logger, CancellationToken cancellationToken, List<WorkerProcess>? launched = null)
    {
        var start = StartInfo(worker, cache, slots, launch);
        var process = Process.Start(start) ?? throw new ClusterStartException($"Could not start {start.FileName} {worker}.");
        var workerProcess = new WorkerProcess(process, logger);
        lock (_workers)
        {
            _workers.Add(workerProcess);
            launched?.Add(workerProcess);
        }

        await process.StandardInput.WriteLineAsync(launch.Token.AsMemory(), cancellationToken).ConfigureAwait(false);
        await process.StandardInput.FlushAsync(cancellationToken).ConfigureAwait(false);
        var address = await workerProcess.WaitForAddressAsync(StartTimeout, cancellationToken).ConfigureAwait(false);
        lock (_workers)
        {
            _byAddress[address] = workerProcess;
        }

        return new WorkerEndpoint(address) { Exited = workerProcess.Exited, Abandon = workerProcess.Kill };
    }

    /// <summary>Stops the process of a worker the cluster is done with (lost, or retired), giving it a moment to exit by itself first.</summary>
    public async Task StopWorkerAsync(WorkerEndpoint endpoint, string reason, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        WorkerProcess? worker;
        lock (_workers)
        {
            if (_byAddress.Remove(endpoint.Address, out worker))
            {
                _workers.Remove(worker);
            }
        }

        if (worker is not null)
        {
            await worker.StopAsync(StopGrace).ConfigureAwait(false);
        }
    }

    /// <summary>How a worker daemon process is started: its arguments, the token on standard input, no window.</summary>
    internal ProcessStartInfo StartInfo(string worker, string cache, int slots, WorkerLaunch launch)
    {
        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,

            // A WinForms or WPF caller has no console: without this, Windows opens one window per worker.
            CreateNoWindow = true,
        };
        start.ArgumentList.Add(worker);
        var kept = launch.KeepAlive > TimeSpan.Zero;
        foreach (var argument in new[]
        {
            "--listen", "127.0.0.1:0",
            "--token-stdin",

            // A kept cluster's worker outlives this process and the terminal's Ctrl+C; its no-client timeout ends it.
            kept ? "--ignore-interrupt" : "--exit-with-stdin",
            "--cache-dir", cache,
            "--slots", slots.ToString(CultureInfo.InvariantCulture),
            "--idle-timeout", Seconds(kept && launch.IdleTimeout != Timeout.InfiniteTimeSpan ? Max(launch.IdleTimeout, launch.KeepAlive) : launch.IdleTimeout),
            "--no-client-timeout", Seconds(kept ? launch.KeepAlive : launch.NoClientTimeout),
        })
        {
            start.ArgumentList.Add(argument);
        }

        if (kept)
        {
            // A kept worker whose caller died before it connected never has a client to count its keep-alive from.
            start.ArgumentList.Add("--first-client-timeout");
            start.ArgumentList.Add(Seconds(KeptFirstClientTimeout));
        }

        if (ExecutorIdleTimeout is { } executorIdle)
        {
            start.ArgumentList.Add("--executor-idle-timeout");
            start.ArgumentList.Add(executorIdle.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture));
        }

        if (SpareTimeout is { } spareTimeout)
        {
            start.ArgumentList.Add("--spare-timeout");
            start.ArgumentList.Add(spareTimeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture));
        }

        start.Environment["DOTNET_TieredPGO"] = "0";
        start.Environment["DOTNET_gcServer"] = "0";
        return start;
    }

    private string FindWorker()
    {
        if (WorkerPath is not null && !File.Exists(WorkerPath))
        {
            throw new ClusterStartException($"LocalProcessBackend.WorkerPath is {WorkerPath}, but no file is there. Point it at coiled-remote-worker.dll.");
        }

        string?[] candidates =
        [
            WorkerPath,
            Environment.GetEnvironmentVariable("COILED_REMOTE_WORKER"),
            Path.Combine(AppContext.BaseDirectory, "coiled-remote-worker", WorkerAssemblyName),
            Path.Combine(AppContext.BaseDirectory, WorkerAssemblyName),
        ];
        foreach (var candidate in candidates)
        {
            if (!string.IsNullOrEmpty(candidate) && File.Exists(candidate))
            {
                return Path.GetFullPath(candidate);
            }
        }

        throw new ClusterStartException(
            $"The worker daemon ({WorkerAssemblyName}) was not found next to the application in {AppContext.BaseDirectory} " +
            "nor at LocalProcessBackend.WorkerPath or $COILED_REMOTE_WORKER. It is copied there by the Coiled.Remote package; " +
            "rebuild the application, or set LocalProcessBackend.WorkerPath.");
    }

    private static string DotnetHost()
    {
        var current = Environment.ProcessPath;
        if (current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet")
        {
            return current;
        }

        var root = Environment.GetEnvironmentVariable("DOTNET_ROOT")
            ?? Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        var host = Path.Combine(root, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet");
        return File.Exists(host) ? host : "dotnet";
    }

    /// <summary>
    /// The cache folder workers on this machine share unless told otherwise (also the worker daemon's default), where
    /// the platform keeps caches: <c>%LOCALAPPDATA%\coiled-remote</c> on Windows, <c>~/Library/Caches/coiled-remote</c>
    /// on macOS, <c>$XDG_CACHE_HOME/coiled-remote</c> or <c>~/.cache/coiled-remote</c> elsewhere.
    /// </summary>
    internal static string DefaultCacheDirectory()
    {
        if (OperatingSystem.IsWindows())
        {
            return CacheDirectoryUnder(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData));
        }

        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (OperatingSystem.IsMacOS())
        {
            return CacheDirectoryUnder(Path.IsPathRooted(home) ? Path.Combine(home, "Library", "Caches") : null);
        }

        return LinuxCacheDirectory(Environment.GetEnvironmentVariable("XDG_CACHE_HOME"), home);
    }

    /// <summary>
    /// <c>$XDG_CACHE_HOME/coiled-remote</c>, or <c>~/.cache/coiled-remote</c> where it is unset or, as the XDG base
    /// directory specification says, not an absolute path (a relative one would put the cache in whatever folder the
    /// caller started in).
    /// </summary>
    internal static string LinuxCacheDirectory(string? xdgCacheHome, string home)
        => CacheDirectoryUnder(Path.IsPathRooted(xdgCacheHome) ? xdgCacheHome : Path.IsPathRooted(home) ? Path.Combine(home, ".cache") : null);

    /// <summary><c>coiled-remote</c> in <paramref name="caches"/>; in the temporary folder, per user, for a user without a home or local application data (a service account).</summary>
    private static string CacheDirectoryUnder(string? caches)
        => Path.IsPathRooted(caches) ? Path.Combine(caches, "coiled-remote") : Path.Combine(Path.GetTempPath(), $"coiled-remote-{Environment.UserName}");

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private static string Seconds(TimeSpan value)
        => value == Timeout.InfiniteTimeSpan ? "0" : Math.Max(1, (long)value.TotalSeconds).ToString(CultureInfo.InvariantCulture);
}
