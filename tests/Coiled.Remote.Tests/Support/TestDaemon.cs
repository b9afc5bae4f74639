using System.Diagnostics;
using System.Globalization;

namespace Coiled.Remote.Tests.Support;

/// <summary>
/// A <c>coiled-remote-worker</c> daemon started by hand, as on a machine of one's own: a real process with its own
/// cache folder, its token on standard input. Disposing kills it and waits until it and every executor it started are
/// gone, then deletes its cache.
/// </summary>
internal sealed class TestDaemon : IAsyncDisposable
{
    public const string Token = "test-daemon-token-0123456789";

    private readonly Process _process;
    private readonly TempDirectory _cache;
    private readonly HashSet<int> _executors = [];

    private TestDaemon(Process process, TempDirectory cache, Uri address)
    {
        _process = process;
        _cache = cache;
        Address = address;
    }

    public Uri Address { get; }

    public int ProcessId => _process.Id;

    public string CachePath => _cache.Path;

    public bool HasExited => _process.HasExited;

    /// <summary>Starts a daemon with two slots and <paramref name="options"/> (e.g. <c>--executor-idle-timeout 0.3</c>) and waits until it listens.</summary>
    public static async Task<TestDaemon> StartAsync(params string[] options)
    {
        var cache = new TempDirectory();
        var start = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[]
        {
            Path.Combine(AppContext.BaseDirectory, "coiled-remote-worker.dll"), "--listen", "127.0.0.1:0", "--token-stdin", "--exit-with-stdin",
            "--cache-dir", cache.Path, "--slots", "2", "--idle-timeout", "0", "--no-client-timeout", "0",
        }.Concat(options))
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        try
        {
            await process.StandardInput.WriteLineAsync(Token);
            await process.StandardInput.FlushAsync();
            process.ErrorDataReceived += (_, _) => { };
            process.BeginErrorReadLine();
            using var safety = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            var line = await process.StandardOutput.ReadLineAsync(safety.Token) ?? string.Empty;
            line.Should().StartWith(LocalProcessBackend.ListeningPrefix);
            _ = process.StandardOutput.ReadToEndAsync();
            return new TestDaemon(process, cache, new Uri(line[LocalProcessBackend.ListeningPrefix.Length..]));
        }
        catch
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            process.Dispose();
            cache.Dispose();
            throw;
        }
    }

    /// <summary>The executor processes the daemon runs now (its children), remembered so that disposing waits for them too.</summary>
    public IReadOnlyList<int> Executors()
    {
        var children = new List<int>();
        foreach (var task in Directory.EnumerateDirectories($"/proc/{ProcessId}/task"))
        {
            try
            {
                children.AddRange(File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries)
                    .Select(id => int.Parse(id, CultureInfo.InvariantCulture)));
            }
            catch (IOException)
            {
                // The thread ended meanwhile.
            }
        }

        lock (_executors)
        {
            _executors.UnionWith(children);
        }

        return children;
    }

    /// <summary>Resident memory of the daemon and of every executor it runs now, in MiB (Linux: VmRSS).</summary>
    public double ResidentMiB() => Resident(ProcessId) + Executors().Sum(Resident);

    public async ValueTask DisposeAsync()
    {
        Executors();
        if (!_process.HasExited)
        {
            // As a crash would: the executors see their standard input close and end themselves.
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        int[] executors;
        lock (_executors)
        {
            executors = [.. _executors];
        }

        await ProcessAssert.AllExitAsync(executors, TimeSpan.FromSeconds(30));
        _process.Dispose();
        _cache.Dispose();
    }

    private static double Resident(int processId)
    {
        try
        {
            var line = File.ReadLines($"/proc/{processId}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024.0;
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
