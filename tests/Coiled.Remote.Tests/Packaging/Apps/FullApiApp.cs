// A console app that references only the packed Coiled.Remote package and uses every part of its public API.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using Coiled.Remote;
using Microsoft.Extensions.Logging;

var spans = new ConcurrentDictionary<string, int>();
using var listener = new ActivityListener
{
    ShouldListenTo = source => source.Name == "Coiled.Remote",
    Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
    ActivityStopped = activity => spans.AddOrUpdate($"{activity.OperationName} {activity.GetTagItem("coiled.remote.method")}", 1, (_, n) => n + 1),
};
ActivitySource.AddActivityListener(listener);

using var loggerFactory = LoggerFactory.Create(logging => logging.AddProvider(new PrefixLoggerProvider()).SetMinimumLevel(LogLevel.Information));
var scratch = Directory.CreateTempSubdirectory("packed-app-");
Environment.SetEnvironmentVariable("PACKED_APP_GREETING", "hello from the caller");
var clusterProgress = new LastReport<ClusterProgress>();
try
{
    var options = new ClusterOptions
    {
        Workers = 2,
        Backend = new LocalProcessBackend { CacheDirectory = Path.Combine(scratch.FullName, "local-cache") },
        LoggerFactory = loggerFactory,
        Progress = clusterProgress,
        ForwardEnvironmentVariables = ["PACKED_APP_GREETING"],
        IdleTimeout = TimeSpan.FromMinutes(5),
        NoClientTimeout = TimeSpan.FromMinutes(1),
        MaxWorkerDeaths = 1,
    };
    var cluster = await Cluster.StartAsync(options);
    await using (cluster)
    {
        Console.WriteLine($"workers: {cluster.Workers.Count} {string.Join(",", cluster.Workers.Select(w => w.State))}, cores and memory known: {cluster.Workers.All(w => w.Cores > 0 && w.MemoryBytes > 0)}");
        Console.WriteLine($"cluster progress: {clusterProgress.Last?.Phase} {clusterProgress.Last?.WorkersReady}/{clusterProgress.Last?.WorkersRequested}");
        using (var http = new HttpClient())
        {
            var page = cluster.DashboardUri is { } dashboard ? await http.GetAsync(new Uri(dashboard, "api/snapshot")) : null;
            Console.WriteLine($"dashboard: {cluster.DashboardUri?.Host}, snapshot served: {page?.IsSuccessStatusCode}");
        }

        var progress = new LastReport<MapProgress>();
        double[] squares = await cluster.MapAsync(Jobs.Square, Enumerable.Range(1, 10).Select(i => (double)i), progress);
        Console.WriteLine($"map: {string.Join(",", squares)}");
        Console.WriteLine($"map progress: {progress.Last?.Done}/{progress.Last?.Total} done, {progress.Last?.Failed} failed");
        Console.WriteLine($"spans: {spans.GetValueOrDefault("map Jobs.Square")} map, {spans.GetValueOrDefault("task Jobs.Square")} task");

        Point moved = await cluster.SubmitAsync(Jobs.Move, new Point(1, 2), 3.0);
        Console.WriteLine($"record: {moved}");
        Console.WriteLine($"no arguments: {await cluster.SubmitAsync(Jobs.Answer)}");

        var touched = Path.Combine(scratch.FullName, "void.txt");
        await cluster.SubmitAsync(Jobs.Touch, touched);
        Console.WriteLine($"void: {File.ReadAllText(touched)}");
        var touchedAsync = Path.Combine(scratch.FullName, "task.txt");
        await cluster.SubmitAsync(Jobs.TouchAsync, touchedAsync);
        Console.WriteLine($"task: {File.ReadAllText(touchedAsync)}");
        Console.WriteLine($"valuetask: {await cluster.SubmitAsync(Jobs.DoubleAsync, 21)}");
        Console.WriteLine($"cancellation token parameter: {await cluster.SubmitAsync(Jobs.LengthAsync, "remote")}");
        using (var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300)))
        {
            var marker = Path.Combine(scratch.FullName, "cancelled.txt");
            try
            {
                await cluster.SubmitAsync(Jobs.WaitForCancellationAsync, marker, cancel.Token);
            }
            catch (OperationCanceledException)
            {
                var deadline = DateTime.UtcNow.AddSeconds(30);
                while (!File.Exists(marker) && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(20);
                }

                Console.WriteLine($"cancelled on the worker: {File.Exists(marker)}");
            }
        }

        string[] greetings = await cluster.MapAsync(Jobs.Greet, new[] { ("a", 1), ("b", 2), ("c", 3) });
        Console.WriteLine($"tuples: {string.Join(",", greetings)}");

        var cubes = new List<long>();
        await foreach (var cube in cluster.MapStreamAsync(Jobs.CubeAsync, Enumerable.Range(1, 4)))
        {
            cubes.Add(cube);
        }

        Console.WriteLine($"stream: {string.Join(",", cubes)}");
        var fromAsync = new List<double>();
        await foreach (var square in cluster.MapStreamAsync(Jobs.Square, CountAsync(3)))
        {
            fromAsync.Add(square);
        }

        Console.WriteLine($"stream from async source: {string.Join(",", fromAsync)}");

        var outcomes = await cluster.MapOutcomesAsync(Jobs.FailOnThree, Enumerable.Range(1, 4));
        Console.WriteLine($"outcomes: {string.Join(",", outcomes.Select(o => o.Succeeded ? o.Value.ToString() : ((RemoteException)o.Error!).RemoteType))}");

        try
        {
            // One item only: with more, whether the others finish before the failure ends the map depends on timing.
            await cluster.MapAsync(Jobs.FailOnThree, new[] { 3 });
        }
        catch (RemoteException ex)
        {
            Console.WriteLine($"remote exception: {ex.RemoteType} at item {ex.ItemIndex}: {ex.RemoteMessage}; method {ex.Method}; worker known: {cluster.Workers.Any(w => w.Id == ex.WorkerId)}; inner: {ex.InnerException is null}");
        }

        Console.WriteLine($"retried: {await cluster.SubmitAsync(Jobs.FailsOnce, Path.Combine(scratch.FullName, "attempts"))}");
        try
        {
            await cluster.SubmitAsync(Jobs.TooSlowAsync);
        }
        catch (RemoteException ex)
        {
            Console.WriteLine($"timeout: {ex.RemoteType}");
        }

        Console.WriteLine($"forwarded variable: {await cluster.SubmitAsync(Jobs.ReadVariable, "PACKED_APP_GREETING")}");
        int[] processIds = await cluster.MapAsync(Jobs.ProcessId, Enumerable.Range(0, 4));
        Console.WriteLine($"ran in other processes: {processIds.All(id => id != Environment.ProcessId)}");

        try
        {
            await cluster.SubmitAsync(Jobs.Die, 3);
        }
        catch (WorkerLostException ex)
        {
            Console.WriteLine($"worker lost: {ex.Method} item {ex.ItemIndex}, {ex.WorkerDeaths.Count} death(s)");
        }

        Console.WriteLine($"after a lost worker: {await cluster.SubmitAsync(Jobs.Square, 9.0)}");
        Console.WriteLine($"cost: {cluster.Cost}");
        Console.WriteLine($"summary while running: {cluster.Summary.TasksRetried} retried");
    }

    var summary = cluster.Summary;
    Console.WriteLine($"summary: {summary.TasksRun} run, {summary.TasksFailed} failed, {summary.TasksRetried} retried, cost {summary.Cost}, worker-seconds and bytes counted: {summary.WorkerSeconds > 0 && summary.ArgumentBytes > 0 && summary.ResultBytes > 0 && summary.SyncBytes > 0}");

    // Workers started by hand, as `coiled-remote worker` would on other machines.
    var token = Convert.ToHexString(RandomNumberGenerator.GetBytes(32));
    var tokenFile = Path.Combine(scratch.FullName, "token");
    File.WriteAllText(tokenFile, token);
    if (!OperatingSystem.IsWindows())
    {
        File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    var workers = new List<Process>();
    try
    {
        var addresses = new List<Uri>();
        for (var i = 0; i < 2; i++)
        {
            var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            foreach (var argument in new[]
            {
                Path.Combine(AppContext.BaseDirectory, "coiled-remote-worker", "coiled-remote-worker.dll"),
                "--listen", "127.0.0.1:0", "--token-file", tokenFile, "--exit-with-stdin", "--cache-dir", Path.Combine(scratch.FullName, $"cache{i}"),
            })
            {
                start.ArgumentList.Add(argument);
            }

            var worker = Process.Start(start)!;
            workers.Add(worker);
            const string Ready = "coiled-remote-worker listening on ";
            var line = await worker.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(1));
            if (line is null || !line.StartsWith(Ready, StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"The worker said '{line}' instead of its address.");
            }

            addresses.Add(new Uri(line[Ready.Length..]));
        }

        await using (var connected = await Cluster.ConnectAsync(addresses, token, new ClusterOptions { LoggerFactory = loggerFactory }))
        {
            Console.WriteLine($"connected: {connected.Workers.Count} {string.Join(",", connected.Workers.Select(w => w.State))}, addresses match: {connected.Workers.Select(w => w.Address).SequenceEqual(addresses)}");
            double[] squares = await connected.MapAsync(Jobs.Square, Enumerable.Range(1, 6).Select(i => (double)i));
            Console.WriteLine($"connected map: {string.Join(",", squares)}");
            int[] processIds = await connected.MapAsync(Jobs.ParentProcessId, Enumerable.Range(0, 8));
            Console.WriteLine($"ran on the hand-started workers: {processIds.All(id => workers.Any(w => w.Id == id))}");
            Console.WriteLine($"connected cost known: {connected.Cost is not null}");
        }

        Console.WriteLine($"hand-started workers left running: {workers.All(w => !w.HasExited)}");
        foreach (var worker in workers)
        {
            worker.StandardInput.Close();
        }

        var exited = await Task.WhenAll(workers.Select(w => w.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30)).ContinueWith(t => t.IsCompletedSuccessfully)));
        Console.WriteLine($"hand-started workers exited: {exited.All(e => e)}");
    }
    finally
    {
        foreach (var worker in workers)
        {
            if (!worker.HasExited)
            {
                worker.Kill(entireProcessTree: true);
                worker.WaitForExit();
            }

            worker.Dispose();
        }
    }

    await using (var inProcess = await Cluster.StartAsync(new ClusterOptions { Workers = 2, Backend = new InProcessBackend() }))
    {
        double[] squares = await inProcess.MapAsync(Jobs.Square, new[] { 2.0, 3.0 });
        int[] processIds = await inProcess.MapAsync(Jobs.ProcessId, Enumerable.Range(0, 4));
        Console.WriteLine($"in-process: {string.Join(",", squares)}, {inProcess.Workers.Count} workers, in this process: {processIds.All(id => id == Environment.ProcessId)}");
    }
}
finally
{
    scratch.Delete(recursive: true);
}

static async IAsyncEnumerable<double> CountAsync(int count)
{
    for (var i = 1; i <= count; i++)
    {
        await Task.Yield();
        yield return i;
    }
}

public sealed record Point(double X, double Y);

public static class Jobs
{
    [Remote]
    public static double Square(double x) => x * x;

    [Remote]
    public static int Answer() => 42;

    [Remote]
    public static Point Move(Point p, double dx) => p with { X = p.X + dx };

    [Remote]
    public static void Touch(string path) => File.WriteAllText(path, "touched");

    [Remote]
    public static async Task TouchAsync(string path) => await File.WriteAllTextAsync(path, "touched async");

    [Remote]
    public static ValueTask<int> DoubleAsync(int x) => new(x * 2);

    [Remote]
    public static async Task<int> LengthAsync(string text, CancellationToken cancellationToken)
    {
        await Task.Yield();
        cancellationToken.ThrowIfCancellationRequested();
        return text.Length;
    }

    [Remote]
    public static async Task<int> WaitForCancellationAsync(string markerPath, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return 0;
        }
        catch (OperationCanceledException)
        {
            File.WriteAllText(markerPath, "cancelled");
            throw;
        }
    }

    [Remote]
    public static string Greet(string word, int times) => string.Join("-", Enumerable.Repeat(word, times));

    [Remote]
    public static async Task<long> CubeAsync(int x, CancellationToken cancellationToken)
    {
        await Task.Yield();
        return (long)x * x * x;
    }

    [Remote]
    public static int FailOnThree(int x) => x == 3 ? throw new InvalidOperationException("three is not allowed") : x;

    [Remote(Retries = 1)]
    public static string FailsOnce(string counterPath)
    {
        if (!File.Exists(counterPath))
        {
            File.WriteAllText(counterPath, "1");
            throw new IOException("first attempt fails");
        }

        return "second attempt";
    }

    [Remote(TimeoutSeconds = 1)]
    public static async Task<int> TooSlowAsync(CancellationToken cancellationToken)
    {
        await Task.Delay(TimeSpan.FromMinutes(1), cancellationToken);
        return 0;
    }

    [Remote]
    public static string? ReadVariable(string name) => Environment.GetEnvironmentVariable(name);

    [Remote]
    public static int ProcessId(int item) => Environment.ProcessId;

    /// <summary>The process that started the task's process: a worker runs tasks in executor processes it starts.</summary>
    [Remote]
    public static int ParentProcessId(int item)
    {
        var stat = File.ReadAllText("/proc/self/stat");
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Remote]
    public static int Die(int code)
    {
        Environment.Exit(code);
        return 0;
    }
}

/// <summary>Keeps the last report, synchronously (Progress&lt;T&gt; would post it to the thread pool).</summary>
public sealed class LastReport<T> : IProgress<T>
    where T : class
{
    private T? _last;

    public T? Last => Volatile.Read(ref _last);

    public void Report(T value) => Volatile.Write(ref _last, value);
}

/// <summary>Writes every log line to standard output as "log: LEVEL CATEGORY: MESSAGE".</summary>
public sealed class PrefixLoggerProvider : ILoggerProvider
{
    private static readonly Lock Gate = new();

    public ILogger CreateLogger(string categoryName) => new PrefixLogger(categoryName);

    public void Dispose()
    {
    }

    private sealed class PrefixLogger(string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Gate)
            {
                Console.WriteLine($"log: {logLevel} {category}: {formatter(state, exception).ReplaceLineEndings(" ")}");
            }
        }
    }
}
