using System.Collections.Concurrent;
using System.Net.Sockets;
using Coiled.Remote.Processes;
using Coiled.Remote.Transport.Protocol;
using Coiled.Remote.Transport;
using Google.Protobuf;

namespace Coiled.Remote.Worker.Executors;

/// <summary>
/// An executor process (<c>coiled-remote-worker --executor</c>): runs the tasks of one environment, in the working
/// directory and with the variables its daemon started it with, for the daemon's connections on a Unix socket, each a
/// client's task stream served by a <see cref="TaskExecutor"/> of its own. It has no web server, so that it starts fast.
/// A spare executor, started ahead of need, learns its environment and variables from a <see cref="BindPrefix"/> line
/// on standard input, after its secret. It exits when its standard input closes (the daemon ended it, or is gone),
/// and with <see cref="ProcessExit.RecycleExitCode"/> once a task overran its timeout and the outcomes reported by then
/// were sent.
/// </summary>
internal sealed class ExecutorHost
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

    /// <summary>A connection must present the secret within this time.</summary>
    private static readonly TimeSpan SecretTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How often an executor serving a direct route tells the daemon whether tasks run.</summary>
    private static readonly TimeSpan ReportPeriod = TimeSpan.FromSeconds(1);

    /// <summary>The longest a recycling executor waits for outcomes to reach the daemon.</summary>
    private static readonly TimeSpan FlushLimit = TimeSpan.FromSeconds(2);

    private readonly TaskCompletionSource<RemoteEnvironment> _environment = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly byte[] _secret;
    private readonly ExecutorCommandLine _options;
    private readonly WorkerActivity _activity = new(TimeProvider.System);
    private readonly TaskCompletionSource<string> _recycle = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentDictionary<ResultBatcher, byte> _batchers = new();

    /// <param name="secret">What the daemon's links must present first.</param>
    /// <param name="options">The executor's command line.</param>
    internal ExecutorHost(byte[] secret, ExecutorCommandLine options)
    {
        _secret = secret;
        _options = options;
    }

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

        var daemon = ParentProcessId();
        using var input = Console.OpenStandardInput();
        if (ReadLine(input) is not { } secretLine)
        {
            // The daemon went away before it sent the secret.
            return 0;
        }

        var host = new ExecutorHost(Convert.FromHexString(secretLine), options);
        if (options.EnvironmentId is { } id)
        {
            host.Take(RemoteEnvironment.ForFolder(id, options.EnvironmentDirectory!, options.EntryAssembly), options.EntryAssembly);
        }

        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(options.SocketPath));
        listener.Listen(64);
        _ = DedicatedThread.Run("coiled-remote executor accept", () => host.Accept(listener));
        using (var output = Console.OpenStandardOutput())
        {
            output.Write(System.Text.Encoding.ASCII.GetBytes(ReadyLine + "\n"));
            output.Flush();
        }

        if (!host._environment.Task.IsCompleted)
        {
            // A spare: what a first route needs that does not depend on its environment is made meanwhile, not then.
            _ = Task.Run(() => ExecutorWarmUp.RunAsync(Path.GetDirectoryName(options.SocketPath)!, host._secret, options.Tls, (link, environment) => host.ServeAsync(link, Task.FromResult(environment)), host._environment.Task));
            if (ReadLine(input) is not { } bind || !bind.StartsWith(BindPrefix, StringComparison.Ordinal))
            {
                return 0;
            }

            var (environment, entryAssembly) = Bind(bind);
            host.Take(environment, entryAssembly);
            await Console.Out.WriteLineAsync(BoundLine).ConfigureAwait(false);
            await Console.Out.FlushAsync().ConfigureAwait(false);
        }

        var ended = await Task.WhenAny(WaitForEndOfInput(input), host._recycle.Task).ConfigureAwait(false);
        if (ended != host._recycle.Task)
        {
            if (daemon is not null && ParentProcessId() != daemon)
            {
                // The daemon died (this process has another parent now), so it cannot clean up after its executors.
                DeleteOwnFolder(options.SocketPath);
            }

            return 0;
        }

        listener.Dispose();
        await Task.WhenAny(Task.WhenAll(host._batchers.Keys.Select(b => b.WhenDrainedAsync())), Task.Delay(FlushLimit)).ConfigureAwait(false);
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
    /// Takes on the environment and variables of a bind line. The variables are set for native code too (setenv), which
    /// is safe here: no task has run, and the one other thread that may read them natively, the warm-up's TLS
    /// handshake, holds <see cref="ExecutorWarmUp.NativeGate"/> while it does.
    /// </summary>
    private static (RemoteEnvironment Environment, string EntryAssembly) Bind(string line)
    {
        var parts = line[BindPrefix.Length..].Split(' ');
        var directory = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(parts[0]));
        var entryAssembly = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(parts[1]));
        var open = OpenEnvironment.Parser.ParseFrom(Convert.FromBase64String(parts[2]));
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

        return (RemoteEnvironment.ForFolder(open.EnvironmentId, directory, entryAssembly), entryAssembly);
    }

    /// <summary>
    /// Serves tasks in <paramref name="environment"/> from now on, and loads the [Remote] methods of its entry assembly
    /// meanwhile. <see cref="AppContext.BaseDirectory"/> becomes the working directory, where the app's files are, so that
    /// <c>Path.Combine(AppContext.BaseDirectory, "data", "x.json")</c> finds a file shipped with it, as on the caller, and
    /// not the worker's own folder.
    /// </summary>
    private void Take(RemoteEnvironment environment, string entryAssembly)
    {
        AppContext.SetData("APP_CONTEXT_BASE_DIRECTORY", Path.TrimEndingDirectorySeparator(Environment.CurrentDirectory) + Path.DirectorySeparatorChar);
        _environment.SetResult(environment);

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

    /// <summary>Accepts the daemon's connections, blocking (so that they are plain blocking sockets), until recycling closes the listener.</summary>
    private bool Accept(Socket listener)
    {
        while (true)
        {
            Socket connection;
            try
            {
                connection = listener.Accept();
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                return false;
            }

            _ = Task.Run(() => ServeAsync(connection, _environment.Task));
        }
    }

    /// <summary>Serves one client's task stream, relayed by the daemon or on a direct route, in <paramref name="environmentTask"/>'s environment, until it ends.</summary>
    internal async Task ServeAsync(Socket connection, Task<RemoteEnvironment> environmentTask)
    {
        using var link = new ExecutorLink(connection);

        // Blocking until the daemon says what the connection is for, which for a direct route is when its client connects
        // (a ticket waits up to its lifetime): on a thread of its own, so that waiting tickets never hold the thread
        // pool, which runs the tasks.
        var opening = await DedicatedThread.Run("coiled-remote executor opening", () => Open(link)).ConfigureAwait(false);
        if (opening is not { } opened)
        {
            return;
        }

        // A spare serves no task before it knows its environment.
        var environment = await environmentTask.ConfigureAwait(false);
        if (opened.Handoff is { } handoff)
        {
            await ServeDirectAsync(link, opened.Passed!, handoff, environment).ConfigureAwait(false);
        }
        else
        {
            await ServeStreamAsync(new RelayedStream(link), environment).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Reads, blocking, the secret, the mode byte and (for a direct route) the client's connection that came with it and
    /// what serves it; null when the connection is not the daemon's, or ended first.
    /// </summary>
    private (Socket? Passed, RouteHandoff? Handoff)? Open(ExecutorLink link)
    {
        if (!link.AcceptSecret(_secret, SecretTimeout))
        {
            return null;
        }

        (byte? Mode, Socket? Passed) opening;
        try
        {
            opening = link.ReceiveMode();
        }
        catch (SocketException)
        {
            return null;
        }

        if (opening.Mode == ExecutorLink.RelayedMode)
        {
            opening.Passed?.Dispose();
            return (null, null);
        }

        if (opening is not { Mode: ExecutorLink.DirectMode, Passed: { } passed })
        {
            opening.Passed?.Dispose();
            return null;
        }

        try
        {
            if (link.Read(RouteHandoff.Parser) is { } received)
            {
                received.Payload?.Release();
                return (passed, received.Header);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or InvalidDataException or InvalidProtocolBufferException)
        {
            // The daemon went away meanwhile.
        }

        passed.Dispose();
        return null;
    }

    /// <summary>
    /// Serves a direct route: the client's own connection, which came with the link's mode byte. Meanwhile the daemon
    /// hears on the link about once a second whether tasks run, and the end of the link when the route ends.
    /// </summary>
    private async Task ServeDirectAsync(ExecutorLink link, Socket passed, RouteHandoff handoff, RemoteEnvironment environment)
    {
        // TLS and the secret may take the client up to DirectStream.OpeningTimeout: not on the thread pool either.
        var ready = new Ready { EnvironmentId = environment.Id, Slots = _options.Slots };
        var stream = await DedicatedThread.Run("coiled-remote route opening", () => DirectStream.Accept(passed, handoff, ready)).ConfigureAwait(false);
        if (stream is null)
        {
            return;
        }

        using var reporting = new CancellationTokenSource();
        var reports = ReportAsync(link, reporting.Token);
        try
        {
            await ServeStreamAsync(stream, environment).ConfigureAwait(false);
        }
        finally
        {
            await reporting.CancelAsync().ConfigureAwait(false);
            await reports.ConfigureAwait(false);
        }
    }

    /// <summary>Tells the daemon, about once a second while a direct route is served, how many tasks run, so that its idle timeout sees the work.</summary>
    private async Task ReportAsync(ExecutorLink link, CancellationToken stop)
    {
        var sent = 0;
        using var timer = new PeriodicTimer(ReportPeriod);
        try
        {
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                var running = _activity.RunningTasks;
                if (running != sent || _activity.WithoutWork() < ReportPeriod * 2)
                {
                    link.Write(new ExecutorReport { RunningTasks = running }, []);
                    sent = running;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            // The route ended, or the daemon is gone.
        }
    }

    /// <summary>Serves one client's task stream until it ends.</summary>
    private async Task ServeStreamAsync(IExecutorStream stream, RemoteEnvironment environment)
    {
        using (stream)
        {
            var executor = new TaskExecutor(_options.Slots, _activity, _options.Limits, TimeProvider.System, reason => _recycle.TrySetResult(reason));
            await using (executor.ConfigureAwait(false))
            {
                var batcher = new ResultBatcher(executor);
                _batchers[batcher] = 0;
                var pump = PumpAsync(stream, batcher, executor);
                try
                {
                    await DedicatedThread.Run("coiled-remote executor stream", () => ReadRequests(stream, executor, environment)).ConfigureAwait(false);
                }
                finally
                {
                    await pump.ConfigureAwait(false);
                    _batchers.TryRemove(batcher, out _);
                }
            }
        }
    }

    /// <summary>Reads the stream's requests, blocking, until they end: tasks are queued, shared values kept and released, cancels passed on.</summary>
    private static bool ReadRequests(IExecutorStream stream, TaskExecutor executor, RemoteEnvironment environment)
    {
        try
        {
            while (stream.Read() is { } frame)
            {
                var request = frame.Header;
                switch (request.KindCase)
                {
                    case RunRequest.KindOneofCase.Tasks:
                        executor.Enqueue(environment, request.Tasks, frame.Data, frame.Payload);
                        break;
                    case RunRequest.KindOneofCase.Share:
                        executor.Share(request.Share.Sha256.Span, frame.Data, frame.Payload);
                        break;
                    case RunRequest.KindOneofCase.Release:
                        frame.Payload?.Release();
                        executor.Release(request.Release.Sha256);
                        break;
                    default:
                        frame.Payload?.Release();
                        executor.Cancel(request.Cancel.TaskIds);
                        break;
                }
            }

            if (stream.EndCompletes)
            {
                executor.Complete();
                return true;
            }
        }
        catch (Grpc.Core.RpcException ex)
        {
            // More tasks than the stream's window (the daemon's own window prevents it on relayed streams), or more shared values than its budget.
            stream.Refuse(ex.Status.Detail);
        }
        catch (Exception ex) when (ex is IOException or SocketException or InvalidDataException or ObjectDisposedException or InvalidProtocolBufferException)
        {
            // A broken connection, or the client is gone: what is queued is dropped and what runs is cancelled.
        }

        executor.Abort();
        return false;
    }

    /// <summary>Sends the outcomes back as they come, then says that every outcome was sent.</summary>
    private static async Task PumpAsync(IExecutorStream stream, ResultBatcher batcher, TaskExecutor executor)
    {
        try
        {
            await batcher.PumpAsync((batch, results) =>
            {
                stream.Write(new RunReply { Results = batch }, results.Span);
                return ValueTask.CompletedTask;
            }).ConfigureAwait(false);
            stream.Finish();
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            // The client or the daemon closed the connection: nobody waits for these outcomes.
            executor.Abort();
        }
    }
}
