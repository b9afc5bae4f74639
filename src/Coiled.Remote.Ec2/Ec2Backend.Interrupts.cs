using System.Runtime.InteropServices;
using Amazon.EC2.Model;
using Amazon.Runtime;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Ec2;

public sealed partial class Ec2Backend
{
    private readonly Lock _interruptLock = new();
    private readonly List<PosixSignalRegistration> _signals = [];
    private CancellationTokenSource? _starting;
    private int _interrupts;
    private bool _watchingExit;

    /// <summary>Whether Ctrl+C or SIGTERM reached the process while this backend owned instances.</summary>
    internal bool Interrupted => Volatile.Read(ref _interrupts) > 0;

    /// <summary>
    /// From the start on, Ctrl+C and SIGTERM tear the cluster down before the process ends: during the start they cancel
    /// it (and the start removes what it created); later they dispose the backend and then end the process. A second
    /// Ctrl+C ends the process at once. If the process exits without disposing the cluster, the instances are still
    /// sent TerminateInstances.
    /// </summary>
    private void WatchInterrupts(CancellationTokenSource starting)
    {
        lock (_interruptLock)
        {
            _starting = starting;
            if (!_tuning.HandleInterrupts || _signals.Count > 0)
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

    private void StopWatchingStart()
    {
        lock (_interruptLock)
        {
            _starting = null;
        }
    }

    private void StopWatchingInterrupts()
    {
        lock (_interruptLock)
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

    private void OnSignal(PosixSignalContext context)
    {
        if (Volatile.Read(ref _interrupts) > 0)
        {
            // The second Ctrl+C: end the process the usual way.
            return;
        }

        context.Cancel = true;
        Console.Error.WriteLine(
            $"coiled-remote: {context.Signal}: terminating the EC2 instances of {ClusterName} and deleting its security group " +
            "(press Ctrl+C again to exit at once, then run `coiled-remote ec2 cleanup`).");
        _ = InterruptAsync(exitProcess: true);
    }

    /// <summary>What Ctrl+C does: cancel a start in progress, or tear a running cluster down (and end the process).</summary>
    internal async Task InterruptAsync(bool exitProcess)
    {
        Interlocked.Increment(ref _interrupts);
        lock (_interruptLock)
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
            await TeardownAsync("interrupted").ConfigureAwait(false);
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

    private void OnProcessExit(object? sender, EventArgs e)
    {
        if (_tornDown || _client is not { } client)
        {
            return;
        }

        // The process is ending without disposing the cluster: there is no time to wait for termination, but one call
        // stops the billing; the security group is left to `coiled-remote ec2 cleanup`.
        var ids = Snapshot().Where(i => i.TerminatedAt is null).Select(i => i.Id).ToList();
        if (ids.Count == 0)
        {
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            client.TerminateInstancesAsync(new TerminateInstancesRequest { InstanceIds = ids }, timeout.Token).GetAwaiter().GetResult();
            Console.Error.WriteLine($"coiled-remote: the process exited without disposing cluster {ClusterName}: terminated {string.Join(", ", ids)}; run `coiled-remote ec2 cleanup` to delete its security group.");
        }
        catch (Exception ex) when (ex is AmazonServiceException or AmazonClientException or OperationCanceledException or HttpRequestException)
        {
            _logger.LogError(ex, "Could not terminate {Ids} as the process exited", string.Join(", ", ids));
            Console.Error.WriteLine($"coiled-remote: could not terminate {string.Join(", ", ids)} as the process exited ({ex.Message}); run `coiled-remote ec2 cleanup`.");
        }
    }
}
