using System.Collections.Concurrent;
using System.Net.Sockets;
using Coiled.Remote.Transport.Protocol;

namespace Coiled.Remote.Worker.Executors;

/// <summary>
/// An executor process (<c>coiled-remote-worker --executor</c>): runs the tasks of one environment, in the working
/// directory and with the variables its daemon started it with, for the daemon's connections on a Unix socket, each a
/// client's task stream served by a <see cref="TaskExecutor"/> of its own. It has no web server: it starts in a blink.
/// It exits when its standard input closes (the daemon ended it, or is gone), and with
/// <see cref="ProcessExit.RecycleExitCode"/> once a task overran its timeout and the outcomes reported by then were sent.
/// </summary>
internal sealed class ExecutorHost
{
    /// <summary>The first argument that makes <c>coiled-remote-worker</c> an executor.</summary>
    public const string Mode = "--executor";

    /// <summary>The line an executor prints on standard output once it listens.</summary>
    public const string ReadyLine = "coiled-remote-executor ready";

    /// <summary>A connection must present the secret within this time.</summary>
    private static readonly TimeSpan SecretTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The longest a recycling executor waits for outcomes to reach the daemon.</summary>
    private static readonly TimeSpan FlushLimit = TimeSpan.FromSeconds(2);

    private readonly RemoteEnvironment _environment;
    private readonly byte[] _secret;
    private readonly ExecutorCommandLine _options;
    private readonly WorkerActivity _activity = new(TimeProvider.System);
    private readonly TaskCompletionSource<string> _recycle = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentDictionary<ResultBatcher, byte> _batchers = new();

    private ExecutorHost(RemoteEnvironment environment, byte[] secret, ExecutorCommandLine options)
    {
        _environment = environment;
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

        using var input = Console.OpenStandardInput();
        var secret = ReadSecret(input);
        if (secret is null)
        {
            // The daemon went away before it sent the secret.
            return 0;
        }

        var environment = RemoteEnvironment.ForFolder(options.EnvironmentId, options.EnvironmentDirectory);
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(options.SocketPath));
        listener.Listen(64);
        var host = new ExecutorHost(environment, secret, options);
        _ = Task.Run(() => host.AcceptAsync(listener));
        await Console.Out.WriteLineAsync(ReadyLine).ConfigureAwait(false);
        await Console.Out.FlushAsync().ConfigureAwait(false);

        var ended = await Task.WhenAny(WaitForEndOfInput(input), host._recycle.Task).ConfigureAwait(false);
        if (ended != host._recycle.Task)
        {
            return 0;
        }

        listener.Dispose();
        await Task.WhenAny(Task.WhenAll(host._batchers.Keys.Select(b => b.WhenDrainedAsync())), Task.Delay(FlushLimit)).ConfigureAwait(false);
        return ProcessExit.RecycleExitCode;
    }

    /// <summary>The secret on the first line of standard input, as hex; null when the input ends first.</summary>
    private static byte[]? ReadSecret(Stream input)
    {
        var line = new List<byte>(ExecutorLink.SecretBytes * 2);
        var one = new byte[1];
        while (input.Read(one) == 1)
        {
            if (one[0] == (byte)'\n')
            {
                return Convert.FromHexString(System.Text.Encoding.ASCII.GetString([.. line]).Trim());
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

    private async Task AcceptAsync(Socket listener)
    {
        while (true)
        {
            Socket connection;
            try
            {
                connection = await listener.AcceptAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // Recycling: no more connections.
                return;
            }

            _ = Task.Run(() => ServeAsync(connection));
        }
    }

    /// <summary>Serves one client's task stream, relayed by the daemon, until the daemon ends it.</summary>
    private async Task ServeAsync(Socket connection)
    {
        using var link = new ExecutorLink(connection);
        try
        {
            using var handshake = new CancellationTokenSource(SecretTimeout);
            if (!await link.AcceptSecretAsync(_secret, handshake.Token).ConfigureAwait(false))
            {
                return;
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException)
        {
            return;
        }

        var executor = new TaskExecutor(_options.Slots, _activity, _options.Limits, reason => _recycle.TrySetResult(reason));
        await using (executor.ConfigureAwait(false))
        {
            var batcher = new ResultBatcher(executor.Outcomes);
            _batchers[batcher] = 0;
            var pump = PumpAsync(link, batcher, executor);
            try
            {
                while (await link.ReadAsync(RunRequest.Parser, CancellationToken.None).ConfigureAwait(false) is { } frame)
                {
                    var request = frame.Header;
                    if (request.KindCase == RunRequest.KindOneofCase.Tasks)
                    {
                        executor.Enqueue(_environment, request.Tasks, frame.Data, frame.Payload);
                    }
                    else if (request.KindCase == RunRequest.KindOneofCase.Cancel)
                    {
                        executor.Cancel(request.Cancel.TaskIds);
                    }
                    else
                    {
                        // The client is gone: what is queued is dropped and what runs is cancelled.
                        frame.Payload?.Release();
                        executor.Abort();
                        break;
                    }
                }

                executor.Complete();
            }
            catch (Exception ex) when (ex is IOException or SocketException or InvalidDataException or ObjectDisposedException or Google.Protobuf.InvalidProtocolBufferException)
            {
                executor.Abort();
            }
            finally
            {
                await pump.ConfigureAwait(false);
                _batchers.TryRemove(batcher, out _);
            }
        }
    }

    /// <summary>Sends the outcomes back as they come, then the frame that says every outcome was sent.</summary>
    private static async Task PumpAsync(ExecutorLink link, ResultBatcher batcher, TaskExecutor executor)
    {
        try
        {
            await batcher.PumpAsync((batch, results) => link.WriteAsync(new RunReply { Results = batch }, results, CancellationToken.None)).ConfigureAwait(false);
            await link.WriteAsync(new RunReply(), ReadOnlyMemory<byte>.Empty, CancellationToken.None).ConfigureAwait(false);
            link.CompleteWrites();
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            // The daemon closed the connection: nobody waits for these outcomes.
            executor.Abort();
        }
    }
}
