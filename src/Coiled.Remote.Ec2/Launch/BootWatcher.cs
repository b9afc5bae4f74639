using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Amazon.EC2;
using Amazon.EC2.Model;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Ec2;

/// <summary>
/// Waits until every launched instance runs a worker that accepts connections on its port, and fails with the
/// instances' console output when one of them stops while booting or when <see cref="Ec2Tuning.BootTimeout"/> passes.
/// </summary>
internal sealed class BootWatcher(IAmazonEC2 client, string clusterName, int workerPort, Ec2Tuning tuning, TimeProvider time, ILogger logger)
{
    /// <summary>The workers' addresses, in the order of <paramref name="ids"/>.</summary>
    public async Task<IReadOnlyList<Uri>> WaitForWorkersAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + tuning.BootTimeout;
        var started = time.GetTimestamp();
        var ready = new Dictionary<string, Uri>(StringComparer.Ordinal);
        while (true)
        {
            var waiting = ids.Where(id => !ready.ContainsKey(id)).ToList();
            foreach (var instance in await Ec2Calls.DescribeAsync(client, waiting, cancellationToken).ConfigureAwait(false))
            {
                var state = instance.State?.Name?.Value;
                if (state is "shutting-down" or "terminated" or "stopping" or "stopped")
                {
                    var console = await ConsoleOutputAsync(instance.InstanceId, cancellationToken).ConfigureAwait(false);
                    throw new ClusterStartException(
                        $"EC2 instance {instance.InstanceId} of cluster {clusterName} went {state} while booting" +
                        $"{(instance.StateReason?.Message is { } why ? $" ({why})" : string.Empty)}. Its console output:{Environment.NewLine}{console}");
                }

                if (state == "running" && instance.PublicIpAddress is { Length: > 0 } address
                    && await AcceptsConnectionsAsync(address, cancellationToken).ConfigureAwait(false))
                {
                    var endpoint = new Uri($"https://{address}:{workerPort.ToString(CultureInfo.InvariantCulture)}");
                    ready[instance.InstanceId] = endpoint;
                    logger.WorkerUp(instance.InstanceId, endpoint, ready.Count, ids.Count);
                }
            }

            if (ready.Count == ids.Count)
            {
                logger.AllWorkersUp(ids.Count, clusterName, time.GetElapsedTime(started).TotalSeconds);
                return [.. ids.Select(id => ready[id])];
            }

            if (time.GetUtcNow() >= deadline)
            {
                throw await BootTimeoutAsync([.. ids.Where(id => !ready.ContainsKey(id))], cancellationToken).ConfigureAwait(false);
            }

            await Task.Delay(tuning.PollInterval, time, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<bool> AcceptsConnectionsAsync(string address, CancellationToken cancellationToken)
    {
        using var socket = new TcpClient();
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        attempt.CancelAfter(tuning.ProbeTimeout);
        try
        {
            await socket.ConnectAsync(address, workerPort, attempt.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is SocketException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return false;
        }
    }

    private async Task<ClusterStartException> BootTimeoutAsync(IReadOnlyList<string> late, CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{late.Count} EC2 instance(s) of cluster {clusterName} did not start a worker on port {workerPort} within {tuning.BootTimeout.TotalSeconds:0} s: {string.Join(", ", late)}. ");
        text.Append("Check that this machine can reach them (Ec2Options.AllowIngressFrom, a public subnet) and that they can reach the internet to install .NET and the worker. ");
        text.Append("Their console output (the boot script logs to /var/log/cloud-init-output.log):");
        foreach (var id in late)
        {
            text.AppendLine().Append(CultureInfo.InvariantCulture, $"--- {id} ---").AppendLine();
            text.Append(await ConsoleOutputAsync(id, cancellationToken).ConfigureAwait(false));
        }

        return new ClusterStartException(text.ToString());
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
