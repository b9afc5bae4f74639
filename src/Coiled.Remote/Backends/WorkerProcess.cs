using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote;

/// <summary>One worker daemon child process: its announced address, its output, and how it ended.</summary>
internal sealed class WorkerProcess
{
    private const int KeptErrorLines = 40;

    private readonly TaskCompletionSource<Uri> _address = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Queue<string> _errors = new();
    private readonly ILogger _logger;
    private readonly DateTimeOffset _adoptedStartedAt;

    public WorkerProcess(Process process, ILogger logger)
    {
        Process = process;
        _logger = logger;
        process.OutputDataReceived += (_, e) => OnOutput(e.Data);
        process.ErrorDataReceived += (_, e) => OnError(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        Exited = WatchExitAsync();
    }

    /// <summary>A worker another process started (a kept cluster's): its address is known, its output goes elsewhere.</summary>
    private WorkerProcess(Process process, Uri address, DateTimeOffset startedAt, ILogger logger)
    {
        Process = process;
        _logger = logger;
        Adopted = true;
        _adoptedStartedAt = startedAt;
        _address.SetResult(address);
        Exited = WatchAdoptedExitAsync();
    }

    /// <summary>Whether another process started this worker: it is stopped through its cluster, or killed, not through its standard input.</summary>
    public bool Adopted { get; }

    /// <summary>
    /// The running worker <paramref name="processId"/> that listens at <paramref name="address"/>, if that process still
    /// runs and started at <paramref name="startedAt"/> (not another that got the id later); else null.
    /// </summary>
    public static WorkerProcess? Adopt(int processId, DateTimeOffset startedAt, Uri address, ILogger logger)
        => Find(processId, startedAt) is { } process ? new WorkerProcess(process, address, startedAt, logger) : null;

    /// <summary>
    /// The process <paramref name="processId"/> if it still runs and started at <paramref name="startedAt"/> (not another
    /// that got the id later); else null.
    /// </summary>
    public static Process? Find(int processId, DateTimeOffset startedAt)
    {
        Process process;
        try
        {
            process = Process.GetProcessById(processId);
        }
        catch (ArgumentException)
        {
            return null;
        }

        try
        {
            if (!process.HasExited && (new DateTimeOffset(process.StartTime) - startedAt).Duration() < TimeSpan.FromSeconds(1))
            {
                return process;
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException)
        {
            // Gone meanwhile, or not ours to read.
        }

        process.Dispose();
        return null;
    }

    public Process Process { get; }

    /// <summary>Completes with how the process ended, e.g. "exit code 137 (killed by SIGKILL)".</summary>
    public Task<string> Exited { get; }

    public async Task<Uri> WaitForAddressAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timer.CancelAfter(timeout);
        var first = await Task.WhenAny(_address.Task, Exited, Task.Delay(Timeout.Infinite, timer.Token)).ConfigureAwait(false);
        if (first == _address.Task)
        {
            return await _address.Task.ConfigureAwait(false);
        }

        cancellationToken.ThrowIfCancellationRequested();
        var why = first == Exited ? $"it exited ({await Exited.ConfigureAwait(false)})" : $"it did not report its address within {timeout.TotalSeconds:0} s";
        throw new ClusterStartException($"Worker process {Process.Id} failed to start: {why}. Its error output:{Environment.NewLine}{ErrorOutput()}");
    }

    /// <summary>Kills the process, if it still runs: a worker the cluster gave up on must not go on running tasks.</summary>
    public void Kill()
    {
        try
        {
            if (!Process.HasExited && IsStillTheWorker())
            {
                Process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException or System.ComponentModel.Win32Exception)
        {
            // Already gone, or already stopped by the backend.
        }
    }

    public async Task StopAsync(TimeSpan grace)
    {
        try
        {
            if (!Process.HasExited)
            {
                // Closing standard input asks the worker to exit; it also drains running tasks' results first. An adopted
                // worker was asked by its cluster (or is being given up on): it gets the grace, then is killed.
                if (!Adopted)
                {
                    Process.StandardInput.Close();
                }

                using var timeout = new CancellationTokenSource(grace);
                try
                {
                    await Process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    if (IsStillTheWorker())
                    {
                        Process.Kill(entireProcessTree: true);
                        await Process.WaitForExitAsync().ConfigureAwait(false);
                    }
                }
            }
        }
        catch (InvalidOperationException)
        {
            // The process is already gone.
        }
        finally
        {
            Process.Dispose();
        }
    }

    private async Task<string> WatchExitAsync()
    {
        await Process.WaitForExitAsync().ConfigureAwait(false);
        return Describe(Process.ExitCode);
    }

    /// <summary>Another process's child: its exit code is its parent's to read.</summary>
    private async Task<string> WatchAdoptedExitAsync()
    {
        await Process.WaitForExitAsync().ConfigureAwait(false);
        return "the worker process ended";
    }

    /// <summary>
    /// Whether the process is still this worker: an adopted worker that ended by itself may have left its id to another
    /// process, which must never be killed in its place (checked by its start time).
    /// </summary>
    private bool IsStillTheWorker()
    {
        if (!Adopted)
        {
            return true;
        }

        using var same = Find(Process.Id, _adoptedStartedAt);
        return same is not null;
    }

    /// <summary>Lets go of the process without stopping it: it runs on, and its own timers end it.</summary>
    public void Release() => Process.Dispose();

    internal static string Describe(int exitCode) => Processes.ProcessExit.Describe(exitCode, "worker");

    private void OnOutput(string? line)
    {
        if (line is null)
        {
            return;
        }

        if (line.StartsWith(LocalProcessBackend.ListeningPrefix, StringComparison.Ordinal)
            && Uri.TryCreate(line[LocalProcessBackend.ListeningPrefix.Length..].Trim(), UriKind.Absolute, out var address))
        {
            _address.TrySetResult(address);
            return;
        }

        _logger.WorkerOutput(Process.Id, line);
    }

    private void OnError(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_errors)
        {
            _errors.Enqueue(line);
            if (_errors.Count > KeptErrorLines)
            {
                _errors.Dequeue();
            }
        }

        _logger.WorkerError(Process.Id, line);
    }

    private string ErrorOutput()
    {
        lock (_errors)
        {
            var text = new StringBuilder();
            foreach (var line in _errors)
            {
                text.AppendLine(line);
            }

            return text.Length == 0 ? "(none)" : text.ToString();
        }
    }
}
