using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Tests.Support;

/// <summary>
/// A test's own cache folder for named clusters, whose kept workers outlive the clusters that started them: disposing
/// kills every worker process listed in the folder's registry, or recorded with <see cref="Track"/>, then deletes the folder.
/// </summary>
internal sealed class KeptWorkers : IDisposable
{
    private readonly TempDirectory _cache = new("coiled-remote-kept-");
    private readonly HashSet<int> _processIds = [];

    public string CachePath => _cache.Path;

    public string RegistryPath => Path.Combine(_cache.Path, "clusters");

    /// <summary>Options of a local named cluster of two workers, whose cache (and registry) is this folder.</summary>
    public ClusterOptions Options(string name, TimeSpan keepAlive, ILoggerFactory? logging = null, string? applicationDirectory = null) => new()
    {
        Name = name,
        Workers = 2,
        KeepAlive = keepAlive,
        Backend = new LocalProcessBackend { CacheDirectory = CachePath },
        LoggerFactory = logging,
        ApplicationDirectory = applicationDirectory,
    };

    /// <summary>The workers' process ids, for the cleanup.</summary>
    public IReadOnlyList<int> Track(IEnumerable<int> processIds)
    {
        var ids = processIds.Order().ToList();
        lock (_processIds)
        {
            _processIds.UnionWith(ids);
        }

        return ids;
    }

    public void Dispose()
    {
        foreach (var id in _processIds)
        {
            try
            {
                using var process = Process.GetProcessById(id);
                process.Kill(entireProcessTree: true);
                process.WaitForExit(TimeSpan.FromSeconds(10));
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Gone already.
            }
        }

        _cache.Dispose();
    }
}
