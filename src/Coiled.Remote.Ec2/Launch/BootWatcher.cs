using System.Globalization;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using Amazon.EC2;
using Amazon.EC2.Model;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Ec2;

/// <summary>
/// Watches launched instances boot and yields each one's worker as soon as it accepts connections on its port, probing
/// every running instance of a round at once. An instance that stops while booting, or whose worker does not answer
/// within <see cref="Ec2Tuning.BootTimeout"/>, does not come: the watch ends with a <see cref="ClusterStartException"/>
/// quoting its console output once the others have come, or at once when too few can still come. With
/// <c>privateAddresses</c> (<see cref="Ec2Options.PrivateAddresses"/>) it connects to the instances' private
/// addresses, else to their public ones.
/// </summary>
internal sealed class BootWatcher(IAmazonEC2 client, string clusterName, int workerPort, Ec2Tuning tuning, TimeProvider time, ILogger logger, bool privateAddresses = false)
{
    /// <summary>Each instance's id and its worker's address, as each comes up; fewer than <paramref name="minimum"/> fail at once.</summary>
    public IAsyncEnumerable<(string InstanceId, Uri Address)> WatchAsync(IReadOnlyList<string> ids, int minimum, CancellationToken cancellationToken)
        => WatchAsync(() => ids, Task.CompletedTask, minimum, cancellationToken);

    /// <summary>
    /// Each instance's id and its worker's address, as each comes up, of the instances <paramref name="launched"/>
    /// lists, which grows until <paramref name="launching"/> completes; each has <see cref="Ec2Tuning.BootTimeout"/>
    /// from when the watch first sees it. Once launching ended, fewer than <paramref name="minimum"/> that can still
    /// come fail the watch at once.
    /// </summary>
    public async IAsyncEnumerable<(string InstanceId, Uri Address)> WatchAsync(
        Func<IReadOnlyList<string>> launched, Task launching, int minimum, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        var deadlines = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        var waiting = new List<string>();
        var failures = new List<string>();
        var up = 0;
        var failed = 0;
        while (true)
        {
            // Launching ends before the last list is read: no instance it adds is missed.
            var done = launching.IsCompleted;
            foreach (var id in launched().Where(id => !deadlines.ContainsKey(id)))
            {
                deadlines[id] = time.GetUtcNow() + tuning.BootTimeout;
                waiting.Add(id);
            }

            if (waiting.Count == 0)
            {
                if (done)
                {
                    break;
                }

                await Task.WhenAny(launching, Task.Delay(tuning.PollInterval, time, cancellationToken)).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                continue;
            }

            var probes = new List<(string Id, Uri Address, Task<bool> Answers)>();
            foreach (var instance in await Ec2Calls.DescribeAsync(client, waiting, cancellationToken).ConfigureAwait(false))
            {
                var state = instance.State?.Name?.Value;
                if (state is "shutting-down" or "terminated" or "stopping" or "stopped")
                {
                    waiting.Remove(instance.InstanceId);
                    var console = await ConsoleOutputAsync(instance.InstanceId, cancellationToken).ConfigureAwait(false);
                    failed++;
                    failures.Add(
                        $"EC2 instance {instance.InstanceId} of cluster {clusterName} went {state} while booting" +
                        $"{(instance.StateReason?.Message is { } why ? $" ({why})" : string.Empty)}. Its console output:{Environment.NewLine}{console}");
                }
                else if (state == "running" && (privateAddresses ? instance.PrivateIpAddress : instance.PublicIpAddress) is { Length: > 0 } address)
                {
                    var endpoint = new Uri($"https://{address}:{workerPort.ToString(CultureInfo.InvariantCulture)}");
                    probes.Add((instance.InstanceId, endpoint, AcceptsConnectionsAsync(address, cancellationToken)));
                }
            }

            // One round waits for its slowest probe, not for the sum of them.
            await Task.WhenAll(probes.Select(p => p.Answers)).ConfigureAwait(false);
            foreach (var (id, endpoint, _) in probes.Where(p => p.Answers.Result))
            {
                waiting.Remove(id);
                logger.WorkerUp(id, endpoint, ++up, deadlines.Count);
                yield return (id, endpoint);
            }

            var late = waiting.Where(id => time.GetUtcNow() >= deadlines[id]).ToList();
            if (late.Count > 0)
            {
                failed += late.Count;
                failures.Add(await BootTimeoutAsync(late, cancellationToken).ConfigureAwait(false));
                waiting.RemoveAll(late.Contains);
            }

            if (failed > 0 && done && deadlines.Count - failed < minimum)
            {
                throw new ClusterStartException(string.Join(Environment.NewLine, failures));
            }

            if (waiting.Count > 0)
            {
                await Task.Delay(tuning.PollInterval, time, cancellationToken).ConfigureAwait(false);
            }
        }

        if (failures.Count > 0)
        {
            throw new ClusterStartException(string.Join(Environment.NewLine, failures));
        }

        logger.AllWorkersUp(deadlines.Count, clusterName, time.GetElapsedTime(started).TotalSeconds);
    }

    private async Task<bool> AcceptsConnectionsAsync(string address, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(tuning.ProbeTimeout, time);
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            await (tuning.ProbeWorker ?? ConnectAsync)(address, workerPort, attempt.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is SocketException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return false;
        }
    }

    private static async Task ConnectAsync(string address, int port, CancellationToken cancellationToken)
    {
        using var socket = new TcpClient();
        await socket.ConnectAsync(address, port, cancellationToken).ConfigureAwait(false);
    }

    private async Task<string> BootTimeoutAsync(IReadOnlyList<string> late, CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{late.Count} EC2 instance(s) of cluster {clusterName} did not start a worker on port {workerPort} within {tuning.BootTimeout.TotalSeconds:0} s: {string.Join(", ", late)}. ");
        text.Append("Check that this machine can reach them (Ec2Options.AllowIngressFrom, a public subnet) and that they can reach the staging bucket in S3, where they fetch the worker. ");
        text.Append("Their console output (the boot script logs to /var/log/cloud-init-output.log):");
        foreach (var id in late)
        {
            text.AppendLine().Append(CultureInfo.InvariantCulture, $"--- {id} ---").AppendLine();
            text.Append(await ConsoleOutputAsync(id, cancellationToken).ConfigureAwait(false));
        }

        return text.ToString();
    }

    /// <summary>The last lines of an instance's console, or why there are none.</summary>
    private async Task<string> ConsoleOutputAsync(string instanceId, CancellationToken cancellationToken)
    {
        const int KeptLines = 40;
        GetConsoleOutputResponse response;
        try
        {
            // Latest returns the live serial console on Nitro instances; older types only have the buffered copy.
            response = await client.GetConsoleOutputAsync(new GetConsoleOutputRequest { InstanceId = instanceId, Latest = true }, cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonEC2Exception)
        {
            try
            {
                response = await client.GetConsoleOutputAsync(new GetConsoleOutputRequest { InstanceId = instanceId }, cancellationToken).ConfigureAwait(false);
            }
            catch (AmazonEC2Exception ex)
            {
                return $"(no console output: {ex.Message})";
            }
        }

        if (string.IsNullOrEmpty(response.Output))
        {
            return "(no console output yet: EC2 posts it a few minutes after boot)";
        }

        var lines = Encoding.UTF8.GetString(Convert.FromBase64String(response.Output)).ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');
        return string.Join(Environment.NewLine, lines.TakeLast(KeptLines));
    }
}
