using System.Globalization;
using System.Net;
using Coiled.Remote.Worker.Executors;

namespace Coiled.Remote.Worker;

/// <summary>The worker daemon's command line.</summary>
internal sealed record WorkerCommandLine
{
    public const string Usage = """
        usage: coiled-remote-worker --listen ADDR:PORT (--token-file FILE | --token-stdin) [options]

          --listen ADDR:PORT        where to listen, e.g. 127.0.0.1:0 (0 picks a free port) or 0.0.0.0:7400
          --token-file FILE         read the cluster token from FILE (mode 0600: others must not read it)
          --allow-insecure-token-file  accept a token file other users can read, with a warning
          --token-stdin             read the cluster token from the first line of standard input
          --exit-with-stdin         exit when standard input closes (the parent process is gone)
          --ignore-interrupt        keep running on Ctrl+C (SIGINT) and when the terminal closes (SIGHUP),
                                    for workers that outlive the program that started them; SIGTERM
                                    still stops the worker
          --cache-dir DIR           where synchronized files are kept (default ~/.cache/coiled-remote on Linux,
                                    ~/Library/Caches/coiled-remote on macOS, %LOCALAPPDATA%\coiled-remote on Windows)
          --slots N                 tasks run at once, 1 to 4096 (default: processor count)
          --max-connections N       connections held at once, gRPC and bulk data together; more are closed
                                    at once (2 to 1000000; default 1000)
          --idle-timeout SECONDS    exit after this long without work (0 = never; default 1200)
          --no-client-timeout SECONDS  exit after this long without a client (0 = never; default 120)
          --first-client-timeout SECONDS  exit after this long from the start if no client ever connects
                                    (0 = never; default: the no-client timeout); once a client has
                                    come, the no-client timeout applies
          --executor-idle-timeout SECONDS  end an environment's executor process after this long without a
                                    client (fractions allowed, e.g. 0.5; default 60)
          --no-spare-executor       keep no executor started ahead for the next new environment (saves its
                                    memory; each new environment then waits for a process to start)
          --spare-timeout SECONDS   end a spare executor no client took after this long; a second new
                                    environment within it of the one before keeps a spare started
                                    (fractions allowed; default 600)
          --cert FILE               serve TLS with this PFX certificate
          --poweroff-on-exit        power the machine off when the worker exits (cloud machines)
          --instance-metadata URL   poll the machine's instance metadata service (IMDSv2; on EC2
                                    http://169.254.169.254) every 5 s for a spot interruption notice or a
                                    rebalance recommendation, and report them to clients (default: none)
        """;

    /// <summary>Longest timeout in whole seconds: the most a TimeSpan holds.</summary>
    private const long MaxSeconds = 922_337_203_685;

    /// <summary>The highest <c>--max-connections</c>: beyond it, the process's file descriptors run out first.</summary>
    private const int MaxConnectionLimit = 1_000_000;

    public required IPEndPoint Listen { get; init; }

    public string? TokenFile { get; init; }

    public bool TokenFromStdin { get; init; }

    public bool AllowInsecureTokenFile { get; init; }

    public bool ExitWithStdin { get; init; }

    /// <summary>Keep running on SIGINT and SIGHUP: the worker of a kept cluster outlives the terminal and program that started it.</summary>
    public bool IgnoreInterrupt { get; init; }

    public string? CacheDirectory { get; init; }

    public int Slots { get; init; } = Environment.ProcessorCount;

    public int MaxConnections { get; init; } = ConnectionLimit.DefaultMax;

    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(20);

    public TimeSpan NoClientTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>How long to wait for the very first client; null for <see cref="NoClientTimeout"/>.</summary>
    public TimeSpan? FirstClientTimeout { get; init; }

    public TimeSpan ExecutorIdleTimeout { get; init; } = ExecutorOptions.DefaultIdleTimeout;

    public bool SpareExecutor { get; init; } = true;

    public TimeSpan SpareTimeout { get; init; } = ExecutorOptions.DefaultSpareTimeout;

    public string? CertificateFile { get; init; }

    public bool PowerOffOnExit { get; init; }

    /// <summary>The machine's instance metadata service, polled for spot interruption notices; null for none.</summary>
    public Uri? InstanceMetadata { get; init; }

    /// <exception cref="ArgumentException">The command line is not valid; the message says why.</exception>
    public static WorkerCommandLine Parse(IReadOnlyList<string> args)
    {
        IPEndPoint? listen = null;
        string? tokenFile = null, cacheDirectory = null, certificate = null;
        bool tokenStdin = false, exitWithStdin = false, ignoreInterrupt = false, powerOff = false, insecureToken = false, spare = true;
        var slots = Environment.ProcessorCount;
        var maxConnections = ConnectionLimit.DefaultMax;
        var idle = TimeSpan.FromMinutes(20);
        var noClient = TimeSpan.FromMinutes(2);
        TimeSpan? firstClient = null;
        Uri? instanceMetadata = null;
        var executorIdle = ExecutorOptions.DefaultIdleTimeout;
        var spareTimeout = ExecutorOptions.DefaultSpareTimeout;
        for (var i = 0; i < args.Count; i++)
        {
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            switch (args[i])
            {
                case "--listen":
                    var text = Value();
                    listen = ParseListen(text);
                    break;
                case "--token-file": tokenFile = Value(); break;
                case "--token-stdin": tokenStdin = true; break;
                case "--allow-insecure-token-file": insecureToken = true; break;
                case "--exit-with-stdin": exitWithStdin = true; break;
                case "--ignore-interrupt": ignoreInterrupt = true; break;
                case "--cache-dir": cacheDirectory = Value(); break;
                case "--slots": slots = SlotCount(Value()); break;
                case "--max-connections": maxConnections = ConnectionCount(Value()); break;
                case "--idle-timeout": idle = Seconds("--idle-timeout", Value()); break;
                case "--no-client-timeout": noClient = Seconds("--no-client-timeout", Value()); break;
                case "--first-client-timeout": firstClient = Seconds("--first-client-timeout", Value()); break;
                case "--executor-idle-timeout": executorIdle = FractionalSeconds("--executor-idle-timeout", Value()); break;
                case "--spare-timeout": spareTimeout = FractionalSeconds("--spare-timeout", Value()); break;
                case "--no-spare-executor": spare = false; break;
                case "--cert": certificate = Value(); break;
                case "--poweroff-on-exit": powerOff = true; break;
                case "--instance-metadata": instanceMetadata = HttpAddress("--instance-metadata", Value()); break;
                default: throw new ArgumentException($"Unknown option '{args[i]}'.");
            }
        }

        if (listen is null)
        {
            throw new ArgumentException("--listen is required.");
        }

        if (tokenFile is null == !tokenStdin)
        {
            throw new ArgumentException("Give exactly one of --token-file and --token-stdin.");
        }

        return new WorkerCommandLine
        {
            Listen = listen,
            TokenFile = tokenFile,
            TokenFromStdin = tokenStdin,
            AllowInsecureTokenFile = insecureToken,
            ExitWithStdin = exitWithStdin,
            IgnoreInterrupt = ignoreInterrupt,
            CacheDirectory = cacheDirectory,
            Slots = slots,
            MaxConnections = maxConnections,
            IdleTimeout = idle,
            NoClientTimeout = noClient,
            FirstClientTimeout = firstClient,
            ExecutorIdleTimeout = executorIdle,
            SpareExecutor = spare,
            SpareTimeout = spareTimeout,
            CertificateFile = certificate,
            PowerOffOnExit = powerOff,
            InstanceMetadata = instanceMetadata,
        };
    }

    /// <summary>
    /// ADDR:PORT with a dotted-quad IPv4 address or a bracketed IPv6 one, and a port. IPEndPoint.TryParse alone also
    /// takes an address without a port (as port 0), IPv6 without brackets and old IPv4 forms such as 127.1.
    /// </summary>
    private static IPEndPoint ParseListen(string text)
    {
        var error = new ArgumentException($"--listen takes ADDR:PORT with a numeric IP address, e.g. 127.0.0.1:7400, 0.0.0.0:7400 or [::1]:0 (0 picks a free port); '{text}' is not one.");
        if (!IPEndPoint.TryParse(text, out var endpoint) || !text.EndsWith(":" + endpoint.Port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal))
        {
            throw error;
        }

        var address = text[..text.LastIndexOf(':')];
        var wellFormed = endpoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
            ? address.StartsWith('[') && address.EndsWith(']')
            : address.Count(c => c == '.') == 3;
        if (!wellFormed)
        {
            throw error;
        }

        var bytes = endpoint.Address.GetAddressBytes();
        if (endpoint.Address.IsIPv6Multicast || (bytes.Length == 4 && (bytes[0] >= 224 || endpoint.Address.Equals(IPAddress.Broadcast))))
        {
            throw new ArgumentException($"--listen needs an address of this machine, or 0.0.0.0 or [::] for all of them; {endpoint.Address} is a multicast or broadcast address.");
        }

        return endpoint;
    }

    private static Uri HttpAddress(string option, string text)
        => Uri.TryCreate(text, UriKind.Absolute, out var address) && address.Scheme is "http" or "https" && string.IsNullOrEmpty(address.Query)
            ? address
            : throw new ArgumentException($"{option} takes an http address, e.g. http://169.254.169.254 (EC2's instance metadata), not '{text}'.");

    private static int SlotCount(string text)
        => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value is >= 1 and <= WorkerHostOptions.MaxSlots
            ? value
            : throw new ArgumentException($"--slots takes a whole number from 1 to {WorkerHostOptions.MaxSlots}, not '{text}'.");

    private static int ConnectionCount(string text)
        => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value is >= 2 and <= MaxConnectionLimit
            ? value
            : throw new ArgumentException($"--max-connections takes a whole number from 2 (one client's task stream and bulk data) to {MaxConnectionLimit}, not '{text}'.");

    private static TimeSpan FractionalSeconds(string option, string text)
        => double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) && value <= TimeSpan.MaxValue.TotalSeconds / 2
            ? TimeSpan.FromSeconds(value)
            : throw new ArgumentException($"{option} takes a number of seconds, e.g. 60 or 0.5, not '{text}'.");

    /// <summary>Whole seconds, 0 for never; at most what a TimeSpan holds.</summary>
    private static TimeSpan Seconds(string option, string text)
        => long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value <= MaxSeconds
            ? value == 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(value)
            : throw new ArgumentException($"{option} takes a whole number of seconds from 0 (never) to {MaxSeconds}, not '{text}'.");
}
