using System.Diagnostics;
using System.Globalization;
using Coiled.Remote.Tests.Support;
using Xunit.Abstractions;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>
/// A caller and two workers, each in a network namespace of its own joined by veth links on 10.231.0.0/16 (inside the
/// namespaces only). Cutting one worker's link silently (no reset reaches the caller) must be detected when the
/// worker's heartbeats have been missing for the caller's worker timeout (3 s here), and that worker's tasks must
/// finish on the other one, each exactly once.
/// </summary>
public sealed class NetworkPartitionTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _suffix = (Environment.ProcessId % 100000).ToString(CultureInfo.InvariantCulture);
    private readonly List<Process> _processes = [];
    private readonly List<string> _namespaces = [];
    private readonly TempDirectory _folder = new();

    [NetworkNamespaceFact]
    public async Task LinkToAWorkerCutSilently_InNetworkNamespaces_DetectedAndItsTasksFinishElsewhereOnce()
    {
        var caller = Namespace("c");
        var workerA = Namespace("a");
        var workerB = Namespace("b");
        Link(caller, "to-a", "10.231.1.1", workerA, "10.231.1.2");
        Link(caller, "to-b", "10.231.2.1", workerB, "10.231.2.2");
        var token = Path.Combine(_folder.Path, "token");
        File.WriteAllText(token, "partition-test-token-0123456789");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(token, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        await StartWorkerAsync(workerA, "10.231.1.2", token);
        await StartWorkerAsync(workerB, "10.231.2.2", token);
        var map = Start(caller, Path.Combine(AppContext.BaseDirectory, "coiled-remote-test-caller.dll"), "connect", token, "150", "http://10.231.1.2:7400", "http://10.231.2.2:7400");
        (await ReadUntilAsync(map, line => line == "started")).Should().NotBeNull();

        // Cut on the worker's side: the caller's own interface stays up, so nothing tells it the peer is gone. The time
        // is taken before the command, which cuts the link somewhere during its run (slower on a busy machine).
        var cutAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        IpOk("ip", "-n", workerA, "link", "set", "to-c", "down");

        var lost = await ReadUntilAsync(map, line => line.StartsWith("lost ", StringComparison.Ordinal));
        var done = await ReadUntilAsync(map, line => line.StartsWith("done ", StringComparison.Ordinal));

        // The loss must be detected while the map runs, and not before the worker timeout (3 s) has passed since the
        // last heartbeat (one every 500 ms) before the cut.
        lost.Should().NotBeNull("the caller declares the cut-off worker lost");
        var detection = long.Parse(lost!.Split(' ')[2], CultureInfo.InvariantCulture) - cutAt;
        output.WriteLine($"silent link cut detected after {detection} ms");
        detection.Should().BeGreaterThanOrEqualTo(2_500, "a silent worker is given the whole worker timeout");
        done.Should().Be("done 150 150 True", "every item's result arrives exactly once, in order");
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

        foreach (var name in _namespaces)
        {
            NetworkNamespaceFactAttribute.Run("ip", "netns", "del", name);
        }

        _folder.Dispose();
    }

    private string Namespace(string role)
    {
        var name = $"cr{role}{_suffix}";
        IpOk("ip", "netns", "add", name);
        _namespaces.Add(name);
        IpOk("ip", "-n", name, "link", "set", "lo", "up");
        return name;
    }

    private static void Link(string left, string leftName, string leftAddress, string right, string rightAddress)
    {
        IpOk("ip", "-n", left, "link", "add", leftName, "type", "veth", "peer", "name", "to-c", "netns", right);
        IpOk("ip", "-n", left, "addr", "add", leftAddress + "/30", "dev", leftName);
        IpOk("ip", "-n", right, "addr", "add", rightAddress + "/30", "dev", "to-c");
        IpOk("ip", "-n", left, "link", "set", leftName, "up");
        IpOk("ip", "-n", right, "link", "set", "to-c", "up");
    }

    private static void IpOk(params string[] arguments)
        => NetworkNamespaceFactAttribute.Run(arguments).Should().Be(0, string.Join(' ', arguments));

    private async Task StartWorkerAsync(string name, string address, string token)
    {
        var cache = Directory.CreateDirectory(Path.Combine(_folder.Path, name)).FullName;
        var worker = Start(
            name, Path.Combine(AppContext.BaseDirectory, "coiled-remote-worker.dll"),
            "--listen", address + ":7400", "--token-file", token, "--exit-with-stdin", "--cache-dir", cache, "--slots", "1",
            "--idle-timeout", "0", "--no-client-timeout", "0");
        (await ReadUntilAsync(worker, line => line.StartsWith("coiled-remote-worker listening on ", StringComparison.Ordinal))).Should().NotBeNull();
    }

    private Process Start(string name, string dll, params string[] arguments)
    {
        var start = new ProcessStartInfo("ip")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "netns", "exec", name, Environment.ProcessPath!, dll }.Concat(arguments))
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        _processes.Add(process);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                output.WriteLine($"[{name} stderr] {e.Data}");
            }
        };
        process.BeginErrorReadLine();
        return process;
    }

    private async Task<string?> ReadUntilAsync(Process process, Func<string, bool> match)
    {
        using var safety = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        while (await process.StandardOutput.ReadLineAsync(safety.Token) is { } line)
        {
            output.WriteLine(line);
            if (match(line))
            {
                return line;
            }
        }

        return null;
    }
}
