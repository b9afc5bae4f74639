using Humanizer;

namespace Coiled.Remote.Tests.Support;

/// <summary>[Remote] methods the end-to-end tests run on real workers.</summary>
public static class TestJobs
{
    [Remote]
    public static double Square(double x) => x * x;

    [Remote]
    public static double Add(double x, double y) => x + y;

    [Remote]
    public static string Join(string a, int b, bool c, double d) => $"{a}|{b}|{c}|{d}";

    [Remote]
    public static int Answer() => 42;

    [Remote]
    public static Point Move(Point p, double dx) => p with { X = p.X + dx };

    [Remote]
    public static Shape Describe(Shape shape) => shape with
    {
        Name = shape.Name.ToUpperInvariant(),
        Tags = [.. shape.Tags, "seen"],
        Counts = shape.Counts.ToDictionary(kv => kv.Key, kv => kv.Value * 2),
        Color = Color.Blue,
        Data = [.. shape.Data.Reverse()],
    };

    [Remote]
    public static async Task<int> LengthAsync(string text, CancellationToken cancellationToken)
    {
        await Task.Yield();
        cancellationToken.ThrowIfCancellationRequested();
        return text.Length;
    }

    [Remote]
    public static ValueTask<int> DoubleAsync(int x) => new(x * 2);

    [Remote]
    public static void Touch(string path) => File.WriteAllText(path, "touched");

    [Remote]
    public static async Task TouchAsync(string path) => await File.WriteAllTextAsync(path, "touched async");

    [Remote]
    public static int ProcessId(int item) => Environment.ProcessId;

    /// <summary>The worker daemon's process id: the parent's of the executor process the task runs in, or its own in-process.</summary>
    [Remote]
    public static int WorkerProcessId(int item) => TestProcesses.WorkerProcessId();

    /// <summary>
    /// What a task sees of where it runs: its working directory, the forwarded variable, the app's <c>build.txt</c> read by
    /// relative path, and the files named <c>written-*</c> there after it wrote its own.
    /// </summary>
    [Remote]
    public static Surroundings Look(string variable, int item)
    {
        var value = Environment.GetEnvironmentVariable(variable);
        File.WriteAllText($"written-{value}-{item}.txt", value);
        return new Surroundings(
            Environment.CurrentDirectory,
            value,
            File.ReadAllText("build.txt"),
            [.. Directory.GetFiles(".", "written-*").Select(Path.GetFileName).Order()!],
            Environment.ProcessId);
    }

    /// <summary>Overwrites a file that shipped with the app, by relative path, and answers what it then reads there.</summary>
    [Remote]
    public static string Overwrite(string relativePath, string content)
    {
        File.WriteAllText(relativePath, content);
        return File.ReadAllText(relativePath);
    }

    /// <summary>Reads a file that shipped with the app, by relative path.</summary>
    [Remote]
    public static string ReadAppFile(string relativePath) => File.ReadAllText(relativePath);

    /// <summary>Reads a file that shipped with the app by its path under <see cref="AppContext.BaseDirectory"/>, as apps find their data files.</summary>
    [Remote]
    public static string ReadBesideApp(string relativePath) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, relativePath));

    /// <summary>Recurses until the stack overflows, which ends the process (SIGABRT).</summary>
    [Remote]
    public static int OverflowStack(int depth) => depth < 0 ? 0 : OverflowStack(depth + 1) + 1;

    [Remote]
    public static double FailOnSeven(double x) => x == 7 ? throw new InvalidOperationException($"seven is not allowed ({x})") : x;

    [Remote]
    public static string? ReadVariable(string name) => Environment.GetEnvironmentVariable(name);

    /// <summary>Uses Humanizer, a NuGet package the worker daemon itself does not have.</summary>
    [Remote]
    public static string Humanize(string pascalCase) => pascalCase.Humanize();

    /// <summary>
    /// Leaves <c>markerPath.running</c> once it runs, waits until cancelled, then leaves a marker file proving the token
    /// was seen on the worker.
    /// </summary>
    [Remote]
    public static async Task<int> WaitForCancellationAsync(string markerPath, CancellationToken cancellationToken)
    {
        await File.WriteAllTextAsync(markerPath + ".running", "running", CancellationToken.None);
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return 0;
        }
        catch (OperationCanceledException)
        {
            await File.WriteAllTextAsync(markerPath, "cancelled", CancellationToken.None);
            throw;
        }
    }

    /// <summary>Throws until it has been called <paramref name="failures"/> times for this counter file.</summary>
    [Remote(Retries = 2)]
    public static int FlakyThenSucceeds(string counterPath, int failures)
    {
        var attempts = File.Exists(counterPath) ? int.Parse(File.ReadAllText(counterPath)) + 1 : 1;
        File.WriteAllText(counterPath, attempts.ToString());
        if (attempts <= failures)
        {
            throw new IOException($"attempt {attempts} fails");
        }

        return attempts;
    }

    [Remote]
    public static int Identity(int x) => x;

    /// <summary>Differs from the overload below only by the trailing token the cluster supplies; each has its own stub.</summary>
    [Remote]
    public static string Tag(int x) => $"plain {x}";

    [Remote]
    public static string Tag(int x, CancellationToken cancellationToken) => $"cancellable {x} {cancellationToken.CanBeCanceled}";

    [Remote]
    public static int SlowIdentity(int x)
    {
        Thread.Sleep(20);
        return x;
    }

    /// <summary>How many times each (run, item) ran, for workers in the test's own process (<see cref="InProcessBackend"/>).</summary>
    public static readonly System.Collections.Concurrent.ConcurrentDictionary<(string Run, int Item), int> Executions = new();

    /// <summary>Returns its item after a pause, counting each time it ran in <see cref="Executions"/>.</summary>
    [Remote]
    public static int CountedSlowIdentity(string run, int x)
    {
        Executions.AddOrUpdate((run, x), 1, (_, n) => n + 1);
        Thread.Sleep(20);
        return x;
    }

    /// <summary>Returns its item once the test releases the gate (see <see cref="TaskGate"/>).</summary>
    [Remote]
    public static async Task<int> IdentityWhenReleasedAsync(int x, string gate, CancellationToken cancellationToken)
    {
        await TaskGate.EnterAsync(gate, x, cancellationToken);
        return x;
    }

    /// <summary>SHA-256 of the data as hex once the test releases the gate (see <see cref="TaskGate"/>).</summary>
    [Remote]
    public static async Task<string> Sha256WhenReleasedAsync(byte[] data, int item, string gate, CancellationToken cancellationToken)
    {
        await TaskGate.EnterAsync(gate, item, cancellationToken);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(data));
    }

    [Remote]
    public static long Length(byte[] data) => data.LongLength;

    /// <summary>SHA-256 of the data as hex, to prove large arguments arrive byte for byte.</summary>
    [Remote]
    public static string Sha256(byte[] data) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(data));

    /// <summary>Deterministic random bytes: the caller makes the same to compare.</summary>
    [Remote]
    public static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Like <see cref="Sha256"/>, after a pause, so that a worker's queue fills while more data arrives.</summary>
    [Remote]
    public static string Sha256AfterPause(byte[] data, int milliseconds)
    {
        Thread.Sleep(milliseconds);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(data));
    }

    /// <summary>Like <see cref="Sha256"/>, but data starting with a zero byte fails.</summary>
    [Remote]
    public static string Sha256UnlessFirstByteIsZero(byte[] data)
        => data[0] == 0 ? throw new InvalidDataException("the first byte is zero") : Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(data));

    /// <summary>Keeps an array of <paramref name="bytes"/> bytes, every page written, in a static field; answers its process's id.</summary>
    [Remote]
    public static int Hold(int bytes)
    {
        // Filled before it is kept: tasks of other tests may hold arrays of their own in the same process at once.
        var held = new byte[bytes];
        for (long i = 0; i < bytes; i += 4096)
        {
            held[i] = 1;
        }

        _held = held;
        return Environment.ProcessId;
    }

    private static byte[]? _held;

    /// <summary>
    /// Keeps about <paramref name="megabytes"/> MiB of small objects alive through <paramref name="collections"/> forced,
    /// blocking, compacting full collections; answers the time its process was paused for garbage collection, in seconds.
    /// </summary>
    [Remote]
    public static double CollectRepeatedly(int megabytes, int collections)
    {
        var live = new List<byte[]>();
        for (var i = 0; i < megabytes * 1024; i++)
        {
            live.Add(new byte[1024]);
        }

        for (var i = 0; i < collections; i++)
        {
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        }

        GC.KeepAlive(live);
        return GC.GetTotalPauseDuration().TotalSeconds;
    }

    /// <summary>Kills the process it runs in, its executor (as the out-of-memory killer would), for the poison item.</summary>
    [Remote]
    public static int KillWorkerOn(int x, int poison)
    {
        if (x == poison)
        {
            System.Diagnostics.Process.GetCurrentProcess().Kill();
            Thread.Sleep(Timeout.Infinite);
        }

        return x * 10;
    }

    /// <summary>Kills the worker daemon it runs under (its executor's parent) for the poison item: the whole worker dies.</summary>
    [Remote]
    public static int KillWorkerDaemonOn(int x, int poison)
    {
        if (x == poison)
        {
            System.Diagnostics.Process.GetProcessById(TestProcesses.WorkerProcessId()).Kill();
            Thread.Sleep(Timeout.Infinite);
        }

        return x * 10;
    }

    /// <summary>Calls Environment.Exit, as careless library code might.</summary>
    [Remote]
    public static int ExitProcess(int code)
    {
        Environment.Exit(code);
        return code;
    }

    /// <summary>Ignores its token and blocks far past its one-second timeout.</summary>
    [Remote(TimeoutSeconds = 1)]
    public static int IgnoresItsTimeout(int x)
    {
        Thread.Sleep(TimeSpan.FromMinutes(5));
        return x;
    }

    /// <summary>Observes its token, so its one-second timeout ends it cleanly.</summary>
    [Remote(TimeoutSeconds = 1)]
    public static async Task<int> ObservesItsTimeout(int x, CancellationToken cancellationToken)
    {
        await Task.Delay(TimeSpan.FromMinutes(5), cancellationToken);
        return x;
    }

    [Remote]
    public static byte[] Allocate(int bytes) => new byte[bytes];

    /// <summary>A result small in memory and large once serialized: one array of 256 numbers, <paramref name="times"/> times over (about 400 bytes each).</summary>
    [Remote]
    public static int[][] SameArrayRepeated(int times)
    {
        var one = Enumerable.Range(0, 256).ToArray();
        return Enumerable.Repeat(one, times).ToArray();
    }

    /// <summary>Runs the script shipped with the application (Assets/hello.sh, mode 0755) and answers what it printed.</summary>
    [Remote]
    public static string RunShippedTool(string argument)
    {
        using var tool = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("Assets/hello.sh", [argument]) { RedirectStandardOutput = true })!;
        var output = tool.StandardOutput.ReadToEnd();
        tool.WaitForExit();
        return output.TrimEnd();
    }

    /// <summary>
    /// While closed, <see cref="SlowLength"/> and <see cref="IdentityWhenOpen"/> wait on in-process workers, so that a
    /// stream's window fills to exactly what it admits. Open unless a test closes it.
    /// </summary>
    public static readonly ManualResetEventSlim Gate = new(initialState: true);

    /// <summary>Waits for the <see cref="Gate"/>, then takes a millisecond: a worker slower than the source.</summary>
    [Remote]
    public static long SlowLength(byte[] data)
    {
        WaitForGate();
        Thread.Sleep(1);
        return data.LongLength;
    }

    /// <summary>The hashes <see cref="Sha256FailingFirstForMultiplesOfThree"/> already failed once, in this process.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> FailedOnce = new();

    /// <summary>
    /// Like <see cref="Sha256"/>, but the first run on data whose first byte is a multiple of 3 throws, so that such
    /// items are sent again from their arguments.
    /// </summary>
    [Remote(Retries = 1)]
    public static string Sha256FailingFirstForMultiplesOfThree(byte[] data)
    {
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(data));
        return data[0] % 3 == 0 && FailedOnce.TryAdd(hash, true) ? throw new IOException("the first attempt fails") : hash;
    }

    /// <summary>Waits for the <see cref="Gate"/>, then answers its item.</summary>
    [Remote]
    public static int IdentityWhenOpen(int x)
    {
        WaitForGate();
        return x;
    }

    /// <summary>Scores item <paramref name="i"/> against a model: its length and its byte at <paramref name="i"/>, so that a wrong or stale model shows.</summary>
    [Remote]
    public static long Score(byte[] model, int i) => (model.Length * 256L) + model[i];

    /// <summary>Where <see cref="Score"/> ran: the worker daemon's process, and which object the task was handed for the model.</summary>
    [Remote]
    public static ScoreSeen ScoreWhere(byte[] model, int i) => new(TestProcesses.WorkerProcessId(), System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(model), Score(model, i));

    /// <summary><see cref="Score"/>, except that the first task to score item <paramref name="exitOn"/> ends its process (its executor); <paramref name="marker"/> remembers it did.</summary>
    [Remote]
    public static long ScoreOrExit(byte[] model, int i, int exitOn, string marker)
    {
        if (i == exitOn && !File.Exists(marker))
        {
            File.WriteAllText(marker, "exited");
            Environment.Exit(5);
        }

        return Score(model, i);
    }

    /// <summary><see cref="Score"/> against a model shared with <see cref="Cluster.ShareAsync{T}(T, CancellationToken)"/>.</summary>
    [Remote]
    public static long ScoreShared(Shared<byte[]> model, int i) => Score(model.Value, i);

    /// <summary><see cref="ScoreWhere"/> against a model shared with <see cref="Cluster.ShareAsync{T}(T, CancellationToken)"/>: which object the task was handed for the handle.</summary>
    [Remote]
    public static ScoreSeen ScoreSharedWhere(Shared<byte[]> model, int i) => new(TestProcesses.WorkerProcessId(), System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(model.Value), Score(model.Value, i));

    /// <summary><see cref="ScoreOrExit"/> against a model shared with <see cref="Cluster.ShareAsync{T}(T, CancellationToken)"/>.</summary>
    [Remote]
    public static long ScoreSharedOrExit(Shared<byte[]> model, int i, int exitOn, string marker) => ScoreOrExit(model.Value, i, exitOn, marker);

    /// <summary>Not marked [Remote]: passing it to the cluster must fail with a clear error.</summary>
    public static double NotRemote(double x) => x;

    private static void WaitForGate()
    {
        if (!Gate.Wait(TimeSpan.FromMinutes(2)))
        {
            throw new TimeoutException("TestJobs.Gate stayed closed for 2 minutes; the test that closed it must open it.");
        }
    }
}

public sealed record Point(double X, double Y);

/// <summary>What <see cref="TestJobs.ScoreWhere"/> saw.</summary>
public sealed record ScoreSeen(int Worker, int Model, long Score);

/// <summary>What <see cref="TestJobs.Look"/> saw.</summary>
public sealed record Surroundings(string WorkingDirectory, string? Variable, string Build, string[] Written, int ProcessId);

public enum Color
{
    Red,
    Blue,
}

public sealed record Shape(string Name, List<string> Tags, Dictionary<string, int> Counts, Color Color, byte[] Data, (int A, string B) Pair, int[] Numbers);
