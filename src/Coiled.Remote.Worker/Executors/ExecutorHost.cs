using System.Net.Sockets;
using Coiled.Remote.Processes;
using Coiled.Remote.Transport.Protocol;
using Coiled.Remote.Transport;
using Google.Protobuf;

namespace Coiled.Remote.Worker.Executors;

/// <summary>
/// An executor process (<c>coiled-remote-worker --executor</c>): runs the tasks of one environment, in the working
/// directory and with the variables its daemon started it with, for the daemon's connections on a Unix socket, which an
/// <see cref="ExecutorServer"/> serves. It has no web server, so that it starts fast. It speaks with its daemon on
/// standard input and output: its secret comes first on standard input, and it prints <see cref="ReadyLine"/> once it
/// listens. A spare executor, started ahead of need, learns its environment and variables from a
/// <see cref="BindPrefix"/> line on standard input, after its secret, and prints <see cref="BoundLine"/>. It exits when
/// its standard input closes (the daemon ended it, or is gone), and with <see cref="ProcessExit.RecycleExitCode"/> once
/// a task overran its timeout and the outcomes reported by then were sent.
/// </summary>
internal static class ExecutorHost
{
    /// <summary>The first argument that makes <c>coiled-remote-worker</c> an executor.</summary>
    public const string Mode = "--executor";

    /// <summary>The line an executor prints on standard output once it listens.</summary>
    public const string ReadyLine = "coiled-remote-executor ready";

    /// <summary>The line a spare executor prints on standard output once it took on its environment.</summary>
    public const string BoundLine = "coiled-remote-executor bound";

    /// <summary>
    /// How the line that binds a spare executor starts; then the environment folder and the entry assembly (UTF-8) and an
    /// <c>OpenEnvironment</c> (its id and variables), each base64, separated by spaces.
    /// </summary>
    public const string BindPrefix = "bind ";

    /// <summary>The longest a recycling executor waits for outcomes to reach the daemon.</summary>
    private static readonly TimeSpan FlushLimit = TimeSpan.FromSeconds(2);

    /// <summary>Runs the executor until the daemon ends it; returns its exit code.</summary>
    /// <param name="args">The arguments after <see cref="Mode"/>.</param>
    public static async Task<int> RunAsync(IReadOnlyList<string> args)
    {
        ExecutorCommandLine options;
        try
        {
            options = ExecutorCommandLine.Parse(args);
        }
        catch (ArgumentException ex)
        {
            await Console.Error.WriteLineAsync($"coiled-remote-worker {Mode}: {ex.Message} Executors are started by the worker daemon, not by hand.").ConfigureAwait(false);
            return 2;
        }

        // The terminal's Ctrl+C and hang-up reach every process of its group, executors too: an executor ends when its
        // daemon says so (its standard input closes), never with the terminal.
        using var terminal = TerminalSignals.Ignore();
        var daemon = ParentProcessId();
        using var input = Console.OpenStandardInput();
        if (ReadLine(input) is not { } secretLine)
        {
            // The daemon went away before it sent the secret.
            return 0;
        }

        var secret = Convert.FromHexString(secretLine);
        var server = new ExecutorServer(secret, options);
        var environment = new TaskCompletionSource<RemoteEnvironment>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (options.EnvironmentId is { } id)
        {
            Take(environment, RemoteEnvironment.ForFolder(id, options.EnvironmentDirectory!, options.EntryAssembly), options.EntryAssembly);
        }

        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(options.SocketPath));
        listener.Listen(64);
        _ = DedicatedThread.Run("coiled-remote executor accept", () => server.Accept(listener, environment.Task));
        using (var output = Console.OpenStandardOutput())
        {
            output.Write(System.Text.Encoding.ASCII.GetBytes(ReadyLine + "\n"));
            output.Flush();
        }

        if (!environment.Task.IsCompleted)
        {
            // A spare: what a first route needs that does not depend on its environment is made meanwhile, not then.
            _ = Task.Run(() => ExecutorWarmUp.RunAsync(Path.GetDirectoryName(options.SocketPath)!, secret, options.Tls, (link, warmUp) => server.ServeAsync(link, Task.FromResult(warmUp)), environment.Task));
            if (ReadLine(input) is not { } bind || !bind.StartsWith(BindPrefix, StringComparison.Ordinal))
            {
                return 0;
            }

            // Bound once its variables are set: the daemon issues the route's ticket while the load context is made,
            // which serving waits for (ServeAsync). One that cannot be made ends the executor, as a crash would.
            var (directory, entryAssembly, open) = ReadBindLine(bind);
            SetVariables(open);
            await Console.Out.WriteLineAsync(BoundLine).ConfigureAwait(false);
            await Console.Out.FlushAsync().ConfigureAwait(false);
            RemoteEnvironment bound;
            try
            {
                bound = RemoteEnvironment.ForFolder(open.EnvironmentId, directory, entryAssembly);
            }
            catch (Exception ex)
            {
                await Console.Error.WriteLineAsync($"coiled-remote-worker {Mode}: environment {open.EnvironmentId} could not be loaded: {ex.Message}").ConfigureAwait(false);
                return 3;
            }

            Take(environment, bound, entryAssembly);
        }

        var ended = await Task.WhenAny(WaitForEndOfInput(input), server.Recycling).ConfigureAwait(false);
        if (ended != server.Recycling)
        {
            if (daemon is not null && ParentProcessId() != daemon)
            {
                // The daemon died (this process has another parent now), so it cannot clean up after its executors.
                DeleteOwnFolder(options.SocketPath);
            }

            return 0;
        }

        listener.Dispose();
        await Task.WhenAny(server.WhenDrainedAsync(), Task.Delay(FlushLimit)).ConfigureAwait(false);
        return ProcessExit.RecycleExitCode;
    }

    /// <summary>This process's parent (Linux: the field after the name in /proc/self/stat); null where that cannot be read.</summary>
    private static int? ParentProcessId()
    {
        try
        {
            var stat = File.ReadAllText("/proc/self/stat");
            return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or ArgumentOutOfRangeException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>
    /// Deletes the executor's private folder (its socket's, its working directory's), and the daemon's executors' folder
    /// if that is then empty: a daemon killed outright cannot, and its executors see it go.
    /// </summary>
    private static void DeleteOwnFolder(string socketPath)
    {
        var folder = Path.GetDirectoryName(socketPath)!;
        try
        {
            Directory.Delete(folder, recursive: true);
            Directory.Delete(Path.GetDirectoryName(folder)!);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The daemon deletes it, or other executors of the daemon still run.
        }
    }

    /// <summary>The line that binds a spare executor to an environment and its variables.</summary>
    public static string BindLine(ExecutorEnvironment environment)
    {
        var open = new OpenEnvironment { EnvironmentId = environment.Id };
        foreach (var (name, value) in environment.Variables)
        {
            open.EnvironmentVariables[name] = value;
        }

        return BindPrefix + string.Join(' ', Base64(environment.Directory), Base64(environment.EntryAssembly), Convert.ToBase64String(open.ToByteArray()));

        static string Base64(string text) => Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(text));
    }

    /// <summary>
    /// Sets the variables of a bind line, for native code too (setenv), which
    /// is safe here: no task has run, and the one other thread that may read them natively, the warm-up's TLS
    /// handshake, holds <see cref="ExecutorWarmUp.NativeGate"/> while it does.
    /// </summary>
    private static void SetVariables(OpenEnvironment open)
    {
        // Not while a warm-up's TLS handshake reads the process's variables.
        lock (ExecutorWarmUp.NativeGate)
        {
            foreach (var (name, value) in open.EnvironmentVariables)
            {
                Environment.SetEnvironmentVariable(name, value);
                if (!OperatingSystem.IsWindows())
                {
                    _ = NativeEnvironment.SetVariable(name, value, 1);
                }
            }
        }
    }

    /// <summary>What a bind line (<see cref="BindLine"/>) says: the environment's folder, its entry assembly, its id and variables.</summary>
    internal static (string Directory, string EntryAssembly, OpenEnvironment Open) ReadBindLine(string line)
    {
        var parts = line[BindPrefix.Length..].Split(' ');
        return (
            System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(parts[0])),
            System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(parts[1])),
            OpenEnvironment.Parser.ParseFrom(Convert.FromBase64String(parts[2])));
    }

    /// <summary>
    /// Serves tasks in <paramref name="environment"/> from now on (it completes <paramref name="served"/>, which the
    /// server's connections wait for), and loads the [Remote] methods of its entry assembly meanwhile.
    /// <see cref="AppContext.BaseDirectory"/> becomes the working directory, where the app's files are, so that
    /// <c>Path.Combine(AppContext.BaseDirectory, "data", "x.json")</c> finds a file shipped with it, as on the caller, and
    /// not the worker's own folder.
    /// </summary>
    private static void Take(TaskCompletionSource<RemoteEnvironment> served, RemoteEnvironment environment, string entryAssembly)
    {
        AppContext.SetData("APP_CONTEXT_BASE_DIRECTORY", Path.TrimEndingDirectorySeparator(Environment.CurrentDirectory) + Path.DirectorySeparatorChar);
        served.SetResult(environment);

        // While the daemon answers the client and the client sends its first tasks.
        _ = Task.Run(() => environment.Preload(entryAssembly));
    }

    /// <summary>A line of standard input, without its end; null when the input ends first. Reads byte by byte, so nothing after it is consumed.</summary>
    private static string? ReadLine(Stream input)
    {
        var line = new List<byte>(128);
        var one = new byte[1];
        while (input.Read(one) == 1)
        {
            if (one[0] == (byte)'\n')
            {
                return System.Text.Encoding.UTF8.GetString([.. line]).TrimEnd('\r');
            }

            line.Add(one[0]);
        }

        return null;
    }

    /// <summary>Completes when standard input ends: the daemon closed it, or died.</summary>
    private static Task WaitForEndOfInput(Stream input)
    {
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reader = new Thread(() =>
        {
            var buffer = new byte[256];
            try
            {
                while (input.Read(buffer) > 0)
                {
                }
            }
            catch (IOException)
            {
                // A broken pipe ends the input as well.
            }

            ended.TrySetResult();
        })
        {
            IsBackground = true,
            Name = "coiled-remote executor stdin",
        };
        reader.Start();
        return ended.Task;
    }
}
