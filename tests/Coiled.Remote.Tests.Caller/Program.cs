// Starts a local cluster, prints "workers <pid> <pid> ..." and waits to be killed.
// Usage: coiled-remote-test-caller <workers> <cache-dir> [no-client-timeout-seconds]
using System.Globalization;
using Coiled.Remote;

var workers = int.Parse(args[0], CultureInfo.InvariantCulture);
var backend = new LocalProcessBackend { CacheDirectory = args[1] };
var options = new ClusterOptions { Workers = workers, Backend = backend };
if (args.Length > 2)
{
    options = options with { NoClientTimeout = TimeSpan.FromSeconds(int.Parse(args[2], CultureInfo.InvariantCulture)) };
}

var cluster = await Cluster.StartAsync(options);
Console.WriteLine("workers " + string.Join(' ', cluster.Workers.Select(w => w.ProcessId)));
await Task.Delay(Timeout.Infinite);
