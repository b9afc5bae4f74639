// A caller process for tests that kill the caller or cut its network.
// Usage:
//   coiled-remote-test-caller start <workers> <cache-dir> [no-client-timeout-seconds]
//     starts a local cluster, prints "workers <pid> <pid> ..." and waits to be killed.
//   coiled-remote-test-caller in-process
//     starts a cluster of one in-process worker, runs one task on it, prints "ready" and waits to be stopped.
//   coiled-remote-test-caller in-process-exit
//     the same, then returns from Main without disposing the cluster.
//   coiled-remote-test-caller named <name> <cache-dir> <keep-alive-seconds> (wait|dispose)
//     starts (or attaches to) the local named cluster <name> of two workers with that keep-alive, runs one task, prints
//     "workers <pid> <pid> ..." and "result <value>", then waits to be killed, or disposes the cluster and exits.
//   coiled-remote-test-caller connect <token-file> <items> <url> [<url> ...]
//     connects to workers started by hand with a worker timeout of 3 s, maps SlowEcho over 0..items-1, prints "started" when the map is
//     under way, "lost <worker-id> <unix-ms>" when a worker is declared lost, and finally "done <count> <distinct> <in-order>".
using System.Globalization;
using Coiled.Remote;
using Microsoft.Extensions.Logging;

switch (args[0])
{
    case "start":
    {
        var workers = int.Parse(args[1], CultureInfo.InvariantCulture);
        var options = new ClusterOptions { Workers = workers, Backend = new LocalProcessBackend { CacheDirectory = args[2] } };
        if (args.Length > 3)
        {
            options = options with { NoClientTimeout = TimeSpan.FromSeconds(int.Parse(args[3], CultureInfo.InvariantCulture)) };
        }

        var cluster = await Cluster.StartAsync(options);
        Console.WriteLine("workers " + string.Join(' ', cluster.Workers.Select(w => w.ProcessId)));
        await Task.Delay(Timeout.Infinite);
        return 0;
    }

    case "named":
    {
        var options = new ClusterOptions
        {
            Name = args[1],
            Workers = 2,
            KeepAlive = TimeSpan.FromSeconds(int.Parse(args[3], CultureInfo.InvariantCulture)),
            Backend = new LocalProcessBackend { CacheDirectory = args[2] },
        };
        var cluster = await Cluster.StartAsync(options);
        Console.WriteLine("workers " + string.Join(' ', cluster.Workers.Select(w => w.ProcessId).Order()));
        Console.WriteLine($"result {await cluster.SubmitAsync(Jobs.SlowEcho, 7)}");
        if (args[4] == "wait")
        {
            await Task.Delay(Timeout.Infinite);
        }

        await cluster.DisposeAsync();
        return 0;
    }

    case "in-process":
    {
        await using var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend() });
        Console.WriteLine($"ready {await cluster.SubmitAsync(Jobs.SlowEcho, 7)}");
        await Task.Delay(Timeout.Infinite);
        return 0;
    }

    case "in-process-exit":
    {
        var cluster = await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new InProcessBackend() });
        Console.WriteLine($"ready {await cluster.SubmitAsync(Jobs.SlowEcho, 7)}");
        return 0;
    }

    case "connect":
    {
        var token = File.ReadAllText(args[1]).Trim();
        var items = int.Parse(args[2], CultureInfo.InvariantCulture);
        var endpoints = args.Skip(3).Select(a => new Uri(a)).ToList();
        using var logging = LoggerFactory.Create(builder => builder.AddProvider(new LossReporter()));
        await using var cluster = await Cluster.ConnectAsync(endpoints, token, new ClusterOptions { LoggerFactory = logging, WorkerTimeout = TimeSpan.FromSeconds(3) });
        var map = cluster.MapAsync(Jobs.SlowEcho, Enumerable.Range(0, items));
        await Task.Delay(500);
        Console.WriteLine("started");
        var results = await map;
        Console.WriteLine($"done {results.Length} {results.Distinct().Count()} {results.SequenceEqual(Enumerable.Range(0, items))}");
        return 0;
    }

    default:
        Console.Error.WriteLine($"unknown mode {args[0]}");
        return 2;
}

/// <summary>The caller's own [Remote] method: slow enough that a map is still running when the network is cut.</summary>
public static class Jobs
{
    [Remote]
    public static int SlowEcho(int x)
    {
        Thread.Sleep(40);
        return x;
    }
}

/// <summary>Prints "lost &lt;worker&gt; &lt;unix-ms&gt;" the moment the scheduler logs a lost worker.</summary>
internal sealed class LossReporter : ILoggerProvider, ILogger
{
    public ILogger CreateLogger(string categoryName) => this;

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (state is IReadOnlyList<KeyValuePair<string, object?>> fields && fields.FirstOrDefault(f => f.Key == "WorkerId").Value is { } worker
            && formatter(state, exception).Contains("was lost", StringComparison.Ordinal))
        {
            Console.WriteLine($"lost {worker} {DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()}");
        }
    }

    public void Dispose()
    {
    }
}
