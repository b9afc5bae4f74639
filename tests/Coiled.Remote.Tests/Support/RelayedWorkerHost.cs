using Coiled.Remote.Worker;
using Coiled.Remote.Worker.Executors;

namespace Coiled.Remote.Tests.Support;

/// <summary>
/// A worker host on loopback inside the test process whose task streams the daemon relays to its executor process (no
/// direct routes, no spare executor): for tests of what travels on the relayed stream.
/// </summary>
internal static class RelayedWorkerHost
{
    public static Task<WorkerHost> StartAsync(string token, string cacheDirectory) => WorkerHost.StartAsync(new WorkerHostOptions
    {
        Listen = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0),
        Token = token,
        CacheDirectory = cacheDirectory,
        Slots = 2,
        Executors = new ExecutorOptions
        {
            FileName = Environment.ProcessPath!,
            Arguments = [Path.Combine(AppContext.BaseDirectory, "coiled-remote-worker.dll")],
            KeepSpare = false,
            DirectRoutes = false,
        },
    }, CancellationToken.None);
}
