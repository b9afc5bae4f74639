using System.Net;
using Coiled.Remote.Worker;

namespace Coiled.Remote;

/// <summary>
/// Workers inside the caller's own process, reached over real gRPC on loopback: [Remote] methods run on the
/// caller's loaded code, so breakpoints in them hit under a debugger. Nothing is synchronized. The workers' scratch
/// folder (one, shared by replacement workers) is deleted when the backend is disposed, or when the process ends
/// without disposing it (returning from Main, Environment.Exit); only a process killed by a signal leaves it behind.
/// </summary>
public sealed class InProcessBackend : IClusterBackend
{
    private readonly List<WorkerHost> _hosts = [];
    private string? _cacheDirectory;
    private EventHandler? _deleteAtExit;

    /// <inheritdoc/>
    public string Name => "in-process workers";

    /// <inheritdoc/>
    public int DefaultWorkerCount => 2;

    /// <inheritdoc/>
    public decimal? Cost => 0m;

    /// <summary>Execution slots per worker, 1 to 4096. Default: the processors of this machine shared among the workers.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is below 1 or above 4096.</exception>
    public int? SlotsPerWorker
    {
        get;
        init => field = value is null or (>= 1 and <= WorkerHostOptions.MaxSlots)
            ? value
            : throw new ArgumentOutOfRangeException(
                nameof(SlotsPerWorker), value, $"InProcessBackend.SlotsPerWorker must be from 1 to {WorkerHostOptions.MaxSlots}, or null for the processors of this machine shared among the workers.");
    }

    /// <summary>Largest result a task may return (tests lower it to exercise the limit).</summary>
    internal int? MaxResultBytes { get; init; }

    /// <summary>The machine's memory the workers report (tests make it small to see the client's memory warning); default the machine's.</summary>
    internal long? MachineMemoryBytes { get; init; }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<WorkerEndpoint>> StartWorkersAsync(WorkerLaunch launch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(launch);
        var cacheDirectory = CacheDirectory();
        var slots = SlotsPerWorker ?? Math.Max(1, Environment.ProcessorCount / launch.Count);
        var endpoints = new List<WorkerEndpoint>();
        for (var i = 0; i < launch.Count; i++)
        {
            var host = await WorkerHost.StartAsync(new WorkerHostOptions
            {
                Listen = new IPEndPoint(IPAddress.Loopback, 0),
                Token = launch.Token,
                CacheDirectory = cacheDirectory,
                HostEnvironment = true,
                Slots = slots,
                LoggerFactory = launch.LoggerFactory,
                MaxResultBytes = MaxResultBytes ?? Transport.WireLimits.MaxResultBytes,
                MachineMemoryBytes = MachineMemoryBytes,
            }, cancellationToken).ConfigureAwait(false);
            _hosts.Add(host);
            endpoints.Add(new WorkerEndpoint(host.Address) { UsesCallerProcess = true });
        }

        return endpoints;
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        foreach (var host in _hosts)
        {
            await host.DisposeAsync().ConfigureAwait(false);
        }

        _hosts.Clear();
        if (_deleteAtExit is not null)
        {
            AppDomain.CurrentDomain.ProcessExit -= _deleteAtExit;
            _deleteAtExit = null;
        }

        if (_cacheDirectory is not null)
        {
            DeleteFolder(_cacheDirectory);
            _cacheDirectory = null;
        }
    }

    /// <summary>The workers' scratch folder, made on the first start and shared by replacement workers.</summary>
    private string CacheDirectory()
    {
        if (_cacheDirectory is null)
        {
            var folder = Directory.CreateTempSubdirectory("coiled-remote-inproc-").FullName;
            _deleteAtExit = (_, _) => DeleteFolder(folder);
            AppDomain.CurrentDomain.ProcessExit += _deleteAtExit;
            _cacheDirectory = folder;
        }

        return _cacheDirectory;
    }

    private static void DeleteFolder(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A file still in use; the folder is in the system's temporary folder, which the system cleans.
        }
    }
}
