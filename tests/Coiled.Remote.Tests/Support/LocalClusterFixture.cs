namespace Coiled.Remote.Tests.Support;

/// <summary>One 2-worker local cluster (real worker processes over loopback) shared by a test class.</summary>
public sealed class LocalClusterFixture : IAsyncLifetime
{
    /// <summary>Set in this process before the cluster starts, and forwarded to the workers.</summary>
    public const string ForwardedVariable = "COILED_REMOTE_TEST_FORWARDED";

    private readonly TempDirectory _cache = new();

    public Cluster Cluster { get; private set; } = null!;

    public LocalProcessBackend Backend { get; private set; } = null!;

    public string CacheDirectory => _cache.Path;

    public async Task InitializeAsync()
    {
        Environment.SetEnvironmentVariable(ForwardedVariable, "forwarded-value");
        Backend = new LocalProcessBackend { CacheDirectory = _cache.Path };
        Cluster = await Cluster.StartAsync(new ClusterOptions
        {
            Workers = 2,
            Backend = Backend,
            ForwardEnvironmentVariables = [ForwardedVariable],
        });
    }

    public async Task DisposeAsync()
    {
        var pids = Backend.ProcessIds;
        await Cluster.DisposeAsync();
        await ProcessAssert.AllExitAsync(pids, TimeSpan.FromSeconds(30));
        _cache.Dispose();
    }
}
