using System.Runtime.InteropServices;

namespace Coiled.Remote.Ec2;

/// <summary>
/// From the start on, Ctrl+C and SIGTERM tear the cluster down before the process ends: during the start they cancel
/// it (and the start removes what it created); later they tear the cluster down and then end the process. A second
/// Ctrl+C ends the process at once. If the process exits without disposing the cluster, the instances are still
/// sent TerminateInstances.
/// </summary>
/// <param name="clusterName">Named in what Ctrl+C prints.</param>
/// <param name="teardown">What an interrupt runs once the start is over.</param>
/// <param name="handleSignals">Register the signal and process-exit handlers; tests call <see cref="InterruptAsync"/> instead.</param>
internal sealed class InterruptWatcher(string clusterName, ClusterTeardown teardown, bool handleSignals)
{
    private readonly Lock _lock = new();
    private readonly List<PosixSignalRegistration> _signals = [];
    private CancellationTokenSource? _starting;
    private int _interrupts;
    private bool _watchingExit;

    /// <summary>Whether Ctrl+C or SIGTERM reached the process while the cluster owned instances.</summary>
    public bool Interrupted => Volatile.Read(ref _interrupts) > 0;

    /// <summary>Watches from now on; until <see cref="StartEnded"/>, an interrupt cancels <paramref name="starting"/>.</summary>
    public void Watch(CancellationTokenSource starting)
    {
        lock (_lock)
        {
            _starting = starting;
            if (!handleSignals || _signals.Count > 0)
            {
                return;
            }

            foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM })
            {
                try
                {
                    _signals.Add(PosixSignalRegistration.Create(signal, OnSignal));
                }
                catch (PlatformNotSupportedException)
                {
                    // Not every platform has every signal; Ctrl+C (SIGINT) is the one that matters.
                }
            }

            AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
            _watchingExit = true;
        }
    }

    /// <summary>The start is over: an interrupt now tears the cluster down.</summary>
    public void StartEnded()
    {
        lock (_lock)
        {
            _starting = null;
        }
    }

    /// <summary>Stops watching: the cluster is being disposed.</summary>
    public void Stop()
    {
        lock (_lock)
        {
            _starting = null;
            foreach (var registration in _signals)
            {
                registration.Dispose();
            }

            _signals.Clear();
            if (_watchingExit)
            {
                AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
                _watchingExit = false;
            }
        }
    }

    /// <summary>What Ctrl+C does: cancel a start in progress, or tear a running cluster down (and end the process).</summary>
    public async Task InterruptAsync(bool exitProcess)
    {
        Interlocked.Increment(ref _interrupts);
        lock (_lock)
        {
            if (_starting is { } starting)
            {
                // The start removes what it created and throws; the caller's code decides what happens next.
                starting.Cancel();
                return;
            }
        }

        var exitCode = 130;
        try
        {
            await teardown.TeardownAsync("interrupted").ConfigureAwait(false);
        }
        catch (Ec2TeardownException ex)
        {
            Console.Error.WriteLine($"coiled-remote: {ex.Message}");
            exitCode = 1;
        }

        if (exitProcess)
        {
            Environment.Exit(exitCode);
        }
    }

    private void OnSignal(PosixSignalContext context)
    {
        if (Volatile.Read(ref _interrupts) > 0)
        {
            // The second Ctrl+C: end the process the usual way.
            return;
        }

        context.Cancel = true;
        Console.Error.WriteLine(
            $"coiled-remote: {context.Signal}: terminating the EC2 instances of {clusterName} and deleting its security group " +
            "(press Ctrl+C again to exit at once, then run `coiled-remote ec2 cleanup`).");
        _ = InterruptAsync(exitProcess: true);
    }

    private void OnProcessExit(object? sender, EventArgs e) => teardown.TerminateAtProcessExit();
}
