using System.Net;
using Coiled.Remote.Worker;
using Grpc.Net.Client;

namespace Coiled.Remote.Tests.Support;

/// <summary>
/// A worker host on loopback inside the test process, with a plain gRPC channel to it for driving the protocol by
/// hand. Disposing stops the worker and deletes its cache folder.
/// </summary>
internal sealed class TestWorker : IAsyncDisposable
{
    private readonly TempDirectory _cache;

    private TestWorker(WorkerHost host, TempDirectory cache)
    {
        Host = host;
        _cache = cache;
        Channel = GrpcChannel.ForAddress(host.Address);
    }

    public WorkerHost Host { get; }

    public GrpcChannel Channel { get; }

    public string CachePath => _cache.Path;

    public Coiled.Remote.Transport.Protocol.Worker.WorkerClient Client => new(Channel);

    /// <param name="token">The token every call must carry.</param>
    /// <param name="hostEnvironment">Run tasks with the test process's own code (as in-process workers do).</param>
    /// <param name="time">The worker's clock; default the system's.</param>
    /// <param name="configure">Changes to the worker's options (limits and timeouts), if any.</param>
    public static async Task<TestWorker> StartAsync(string token, bool hostEnvironment = false, TimeProvider? time = null, Func<WorkerHostOptions, WorkerHostOptions>? configure = null)
    {
        var cache = new TempDirectory();
        try
        {
            var options = new WorkerHostOptions
            {
                Listen = new IPEndPoint(IPAddress.Loopback, 0),
                Token = token,
                CacheDirectory = cache.Path,
                HostEnvironment = hostEnvironment,
                Slots = 2,
                TimeProvider = time ?? TimeProvider.System,
            };
            var host = await WorkerHost.StartAsync(configure is null ? options : configure(options), CancellationToken.None);
            return new TestWorker(host, cache);
        }
        catch
        {
            cache.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await Host.DisposeAsync();
        _cache.Dispose();
    }
}
