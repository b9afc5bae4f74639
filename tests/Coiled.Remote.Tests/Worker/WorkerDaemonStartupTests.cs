using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Tests.Worker;

/// <summary>
/// How the coiled-remote-worker process starts, or refuses to: one port per worker, and bad input (a taken port, a
/// bad address, a token file it cannot read or that others can read) ends it with exit code 2 and one clear line.
/// </summary>
public sealed class WorkerDaemonStartupTests : IDisposable
{
    private const string Token = "startup-test-token-0123456789";
    private readonly TempDirectory _folder = new();
    private readonly List<Process> _processes = [];

    [Fact]
    public async Task Daemon_PortAlreadyInUse_ExitsWithCode2AndOneLineSayingSo()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;

        var (exitCode, error, output) = await RunToExitWithOutputAsync("--listen", $"127.0.0.1:{port}", "--token-file", TokenFile());

        exitCode.Should().Be(2);
        error.Should().Be($"coiled-remote-worker: cannot start: 127.0.0.1:{port} is in use" + Environment.NewLine);
        output.Should().BeEmpty("the host does not repeat the error with a stack trace");
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("localhost:7400")]
    [InlineData("127.0.0.1:70000")]
    [InlineData("::1")]
    [InlineData("::0")]
    [InlineData("127.1:0")]
    [InlineData("0:7400")]
    public async Task Daemon_ListenIsNotAnAddressAndPort_ExitsWithCode2NamingIt(string listen)
    {
        var (exitCode, error) = await RunToExitAsync("--listen", listen, "--token-file", TokenFile());

        exitCode.Should().Be(2);
        error.Should().StartWith($"coiled-remote-worker: --listen takes ADDR:PORT with a numeric IP address, e.g. 127.0.0.1:7400, 0.0.0.0:7400 or [::1]:0 (0 picks a free port); '{listen}' is not one.");
    }

    [Theory]
    [InlineData("224.0.0.1:0")]
    [InlineData("255.255.255.255:0")]
    [InlineData("[ff02::1]:0")]
    public async Task Daemon_ListenOnAMulticastOrBroadcastAddress_ExitsWithCode2(string listen)
    {
        var (exitCode, error) = await RunToExitAsync("--listen", listen, "--token-file", TokenFile());

        exitCode.Should().Be(2);
        error.Should().StartWith("coiled-remote-worker: --listen needs an address of this machine, or 0.0.0.0 or [::] for all of them; ");
    }

    [Fact]
    public async Task Daemon_ListenOnAnAddressThisMachineDoesNotHave_ExitsWithCode2NamingIt()
    {
        var (exitCode, error) = await RunToExitAsync("--listen", "192.0.2.77:7400", "--token-file", TokenFile());

        exitCode.Should().Be(2);
        error.Should().StartWith("coiled-remote-worker: cannot start: cannot listen on 192.0.2.77:7400: ");
        error.TrimEnd().Should().NotContain("\n", "the error is one line");
    }

    [Theory]
    [InlineData("0")]
    [InlineData("4097")]
    [InlineData("100000")]
    [InlineData("2147483647")]
    [InlineData("99999999999")]
    public async Task Daemon_SlotsOutsideOneTo4096_ExitsWithCode2NamingTheRange(string slots)
    {
        var (exitCode, error) = await RunToExitAsync("--listen", "127.0.0.1:0", "--token-file", TokenFile(), "--slots", slots);

        exitCode.Should().Be(2);
        error.Should().StartWith($"coiled-remote-worker: --slots takes a whole number from 1 to 4096, not '{slots}'.{Environment.NewLine}usage: ");
    }

    [Theory]
    [InlineData("1")]
    [InlineData("1000001")]
    [InlineData("many")]
    public async Task Daemon_MaxConnectionsOutsideTwoToAMillion_ExitsWithCode2NamingTheRange(string connections)
    {
        var (exitCode, error) = await RunToExitAsync("--listen", "127.0.0.1:0", "--token-file", TokenFile(), "--max-connections", connections);

        exitCode.Should().Be(2);
        error.Should().StartWith(
            $"coiled-remote-worker: --max-connections takes a whole number from 2 (one client's task stream and bulk data) to 1000000, not '{connections}'.{Environment.NewLine}usage: ");
    }

    [Theory]
    [InlineData("--idle-timeout", "99999999999999")]
    [InlineData("--no-client-timeout", "922337203686")]
    [InlineData("--idle-timeout", "-1")]
    public async Task Daemon_TimeoutBeyondWhatATimeSpanHolds_ExitsWithCode2NamingTheOption(string option, string seconds)
    {
        var (exitCode, error) = await RunToExitAsync("--listen", "127.0.0.1:0", "--token-file", TokenFile(), option, seconds);

        exitCode.Should().Be(2);
        error.Should().StartWith($"coiled-remote-worker: {option} takes a whole number of seconds from 0 (never) to 922337203685, not '{seconds}'.{Environment.NewLine}");
    }

    [Fact]
    public async Task Daemon_LongestTimeoutsAnd4096Slots_Serve()
    {
        var (process, address) = await StartAsync(
            "--listen", "127.0.0.1:0", "--token-file", TokenFile(), "--slots", "4096", "--idle-timeout", "922337203685", "--no-client-timeout", "922337203685");
        await using (var cluster = await Cluster.ConnectAsync([new WorkerEndpoint(address)], Token))
        {
            (await cluster.SubmitAsync(TestJobs.Square, 6.0).WaitAsync(TimeSpan.FromMinutes(2))).Should().Be(36.0);
            cluster.Workers.Should().ContainSingle().Which.Cores.Should().Be(4096, "the worker offers its slots as its cores");
        }

        process.HasExited.Should().BeFalse("hand-started workers keep running for the next client");
    }

    [UnixFact]
    public async Task Daemon_TokenFileIsAPipeWhoseWriterStaysOpen_ReadsTheFirstLineAndServes()
    {
        var fifo = Path.Combine(_folder.Path, "token-pipe");
        using (var mkfifo = Process.Start("mkfifo", ["-m", "600", fifo]))
        {
            await mkfifo.WaitForExitAsync();
            mkfifo.ExitCode.Should().Be(0);
        }

        // The writer says the token and stays open, as `--token-file <(echo $TOKEN; sleep 30)` does.
        var writing = Task.Run(() => new FileStream(fifo, FileMode.Open, FileAccess.Write));
        var started = StartAsync("--listen", "127.0.0.1:0", "--token-file", fifo);
        await using var writer = await writing;
        await writer.WriteAsync(System.Text.Encoding.UTF8.GetBytes(Token + "\n"));
        await writer.FlushAsync();
        var (_, address) = await started;

        await using var cluster = await Cluster.ConnectAsync([new WorkerEndpoint(address)], Token);
        (await cluster.SubmitAsync(TestJobs.Square, 4.0).WaitAsync(TimeSpan.FromMinutes(2))).Should().Be(16.0);
    }

    [Fact]
    public async Task Daemon_TokenStdinEndless_ExitsWithCode2AfterTheFirstKilobyte()
    {
        var process = Launch(["--listen", "127.0.0.1:0", "--token-stdin"]);
        using var safety = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var error = process.StandardError.ReadToEndAsync(safety.Token);
        var zeros = new byte[64 * 1024];
        var feeding = Task.Run(async () =>
        {
            try
            {
                // Like `< /dev/zero`: no newline and no end, until the worker stops reading.
                while (!safety.IsCancellationRequested)
                {
                    await process.StandardInput.BaseStream.WriteAsync(zeros, safety.Token);
                }
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException)
            {
                // The worker exited and closed the pipe.
            }
        });

        await process.WaitForExitAsync(safety.Token);

        process.ExitCode.Should().Be(2);
        (await error).Should().Be(
            "coiled-remote-worker: the first line of standard input holds control characters, so it is no token; give the token as one line of text." + Environment.NewLine);
        await feeding;
    }

    [Fact]
    public async Task Daemon_TokenLongerThanAConnectionCanCarry_ExitsWithCode2()
    {
        var token = TokenFile();
        File.WriteAllText(token, new string('t', 2000));

        var (exitCode, error) = await RunToExitAsync("--listen", "127.0.0.1:0", "--token-file", token);

        exitCode.Should().Be(2);
        error.Should().Be("coiled-remote-worker: the token is longer than 1024 bytes; use a shorter random string." + Environment.NewLine);
    }

    [Fact]
    public async Task Daemon_TokenFileCannotBeRead_ExitsWithCode2AndOneLine()
    {
        // A folder where the file should be: reading it fails as an unreadable file does (root reads any file).
        var folder = Directory.CreateDirectory(Path.Combine(_folder.Path, "token-folder")).FullName;

        var (exitCode, error) = await RunToExitAsync("--listen", "127.0.0.1:0", "--token-file", folder);

        exitCode.Should().Be(2);
        error.Should().StartWith($"coiled-remote-worker: cannot read the token file {folder}: ").And.NotContain("   at ");
        error.TrimEnd().Should().NotContain("\n", "the error is one line, not a stack trace");
    }

    [Fact]
    public async Task Daemon_TokenFileMissing_ExitsWithCode2AndOneLine()
    {
        var missing = Path.Combine(_folder.Path, "no-such-token");

        var (exitCode, error) = await RunToExitAsync("--listen", "127.0.0.1:0", "--token-file", missing);

        exitCode.Should().Be(2);
        error.Should().StartWith($"coiled-remote-worker: cannot read the token file {missing}: Could not find file");
    }

    [Fact]
    public async Task Daemon_TokenFileReadableByOthers_ExitsWithCode2SayingHowToFixIt()
    {
        var token = TokenFile(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var (exitCode, error) = await RunToExitAsync("--listen", "127.0.0.1:0", "--token-file", token);

        exitCode.Should().Be(2);
        error.Should().Be(
            $"coiled-remote-worker: the token file {token} can be read or written by other users (mode 0644); run 'chmod 600 {token}', " +
            "or pass --allow-insecure-token-file to accept it." + Environment.NewLine);
    }

    [Fact]
    public async Task Daemon_TokenFileReadableByOthersWithAllowInsecure_WarnsAndServes()
    {
        var token = TokenFile(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);

        var (process, address) = await StartAsync("--listen", "127.0.0.1:0", "--token-file", token, "--allow-insecure-token-file");
        await using (var cluster = await Cluster.ConnectAsync([address], Token))
        {
            (await cluster.SubmitAsync(TestJobs.Square, 5.0).WaitAsync(TimeSpan.FromMinutes(2))).Should().Be(25.0);
        }

        process.Kill();
        await process.WaitForExitAsync();
        (await process.StandardError.ReadToEndAsync()).Should().Contain(
            $"coiled-remote-worker: warning: the token file {token} can be read or written by other users (mode 0604); accepted because of --allow-insecure-token-file.");
    }

    [LinuxFact]
    public async Task TwoDaemons_OnAdjacentPorts_BothServeOneConnectAsyncWithLargeArguments()
    {
        var port = FreePortPair();

        var (first, firstAddress) = await StartAsync("--listen", $"127.0.0.1:{port}", "--token-file", TokenFile(), "--slots", "1");
        var (second, secondAddress) = await StartAsync("--listen", $"127.0.0.1:{port + 1}", "--token-file", TokenFile(), "--slots", "1");
        firstAddress.Port.Should().Be(port);
        secondAddress.Port.Should().Be(port + 1);
        await using var cluster = await Cluster.ConnectAsync([firstAddress, secondAddress], Token);

        // Large arguments take the bulk-data path, which shares each worker's one port.
        var payloads = Enumerable.Range(0, 8).Select(i => Enumerable.Repeat((byte)i, 512 * 1024).ToArray()).ToList();
        var hashes = await cluster.MapAsync(TestJobs.Sha256AfterPause, payloads.Select(p => (p, 200))).WaitAsync(TimeSpan.FromMinutes(2));
        var processes = await cluster.MapAsync(TestJobs.WorkerProcessId, Enumerable.Range(0, 40)).WaitAsync(TimeSpan.FromMinutes(2));

        hashes.Should().Equal(payloads.Select(p => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(p))));
        processes.Distinct().Should().BeEquivalentTo([first.Id, second.Id], "both workers on adjacent ports serve the cluster");
        cluster.Workers.Should().HaveCount(2).And.OnlyContain(w => w.State == WorkerState.Ready);
    }

    public void Dispose()
    {
        foreach (var process in _processes)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
            }

            process.Dispose();
        }

        _folder.Dispose();
    }

    /// <summary>Two consecutive free ports on loopback, found by binding them.</summary>
    private static int FreePortPair()
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            using var first = new Socket(SocketType.Stream, ProtocolType.Tcp);
            first.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var port = ((IPEndPoint)first.LocalEndPoint!).Port;
            if (port >= IPEndPoint.MaxPort)
            {
                continue;
            }

            using var second = new Socket(SocketType.Stream, ProtocolType.Tcp);
            try
            {
                second.Bind(new IPEndPoint(IPAddress.Loopback, port + 1));
                return port;
            }
            catch (SocketException)
            {
                // Taken: try another pair.
            }
        }

        throw new InvalidOperationException("No two consecutive free ports on loopback.");
    }

    private string TokenFile(UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite)
    {
        var path = Path.Combine(_folder.Path, $"token-{Guid.NewGuid():N}");
        File.WriteAllText(path, Token);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, mode);
        }

        return path;
    }

    private Process Launch(string[] arguments)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "coiled-remote-worker.dll"));
        foreach (var argument in arguments.Concat(["--exit-with-stdin", "--cache-dir", Path.Combine(_folder.Path, "cache")]))
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        _processes.Add(process);
        return process;
    }

    private async Task<(int ExitCode, string Error)> RunToExitAsync(params string[] arguments)
    {
        var (exitCode, error, _) = await RunToExitWithOutputAsync(arguments);
        return (exitCode, error);
    }

    private async Task<(int ExitCode, string Error, string Output)> RunToExitWithOutputAsync(params string[] arguments)
    {
        var process = Launch(arguments);
        using var safety = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var error = process.StandardError.ReadToEndAsync(safety.Token);
        var output = process.StandardOutput.ReadToEndAsync(safety.Token);
        await process.WaitForExitAsync(safety.Token);
        return (process.ExitCode, await error, await output);
    }

    private async Task<(Process Process, Uri Address)> StartAsync(params string[] arguments)
    {
        var process = Launch(arguments);
        using var safety = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var line = await process.StandardOutput.ReadLineAsync(safety.Token);
        line.Should().StartWith("coiled-remote-worker listening on ", "the worker starts");
        return (process, new Uri(line!["coiled-remote-worker listening on ".Length..]));
    }
}
