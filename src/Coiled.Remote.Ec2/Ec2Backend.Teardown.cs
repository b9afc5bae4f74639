using System.Globalization;
using Amazon.EC2;
using Amazon.EC2.Model;
using Amazon.Runtime;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Ec2;

public sealed partial class Ec2Backend
{
    /// <summary>
    /// Terminates every instance of the cluster, waits until EC2 reports them terminated, and deletes the security
    /// group, then logs what the cluster cost.
    /// </summary>
    /// <exception cref="Ec2TeardownException">Something could not be removed; the message says what and how to remove it.</exception>
    public async ValueTask DisposeAsync()
    {
        StopWatchingInterrupts();
        await TeardownAsync("the cluster was disposed").ConfigureAwait(false);
        _client?.Dispose();
    }

    /// <summary>Removes everything the cluster created; safe to call more than once, and concurrently.</summary>
    private async Task TeardownAsync(string reason)
    {
        await _teardownLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_client is not { } client || _tornDown)
            {
                return;
            }

            using var timeout = new CancellationTokenSource(_tuning.TeardownTimeout, _time);
            try
            {
                await TerminateAllAsync(client, reason, timeout.Token).ConfigureAwait(false);
                await DeleteSecurityGroupAsync(client, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is AmazonServiceException or AmazonClientException or OperationCanceledException or HttpRequestException)
            {
                var why = ex is OperationCanceledException ? $"it did not finish within {_tuning.TeardownTimeout.TotalMinutes:0} min" : ex.Message;
                var message =
                    $"EC2 cluster {ClusterName} could not be removed completely: {why}. Instances: {string.Join(", ", InstanceIds.DefaultIfEmpty("none"))}; " +
                    $"security group: {(_securityGroupDeleted ? "deleted" : SecurityGroupId ?? "none")}. The instances power themselves off when their client is gone; " +
                    $"run `coiled-remote ec2 cleanup --region {_region}` to remove what is left.";
                _logger.LogError(ex, "{Message}", message);
                throw new Ec2TeardownException(message, ex);
            }

            _tornDown = true;
            LogCost();
        }
        finally
        {
            _teardownLock.Release();
        }
    }

    private async Task TerminateAllAsync(IAmazonEC2 client, string reason, CancellationToken cancellationToken)
    {
        if (_pendingLaunch is { } lost)
        {
            // A launch whose answer was lost (Ctrl+C, a dropped connection) may have started instances that nothing
            // lists yet. Repeating it with its client token returns exactly those instances.
            try
            {
                RecordLaunched(await client.RunInstancesAsync(lost, cancellationToken).ConfigureAwait(false));
            }
            catch (AmazonEC2Exception ex)
            {
                _logger.LogInformation("Repeating the interrupted launch of {Cluster} found nothing to terminate ({Code})", ClusterName, ex.ErrorCode);
            }

            _pendingLaunch = null;
        }

        // Known ids, plus anything tagged with the cluster's name.
        var ids = new SortedSet<string>(Snapshot().Where(i => i.TerminatedAt is null).Select(i => i.Id), StringComparer.Ordinal);
        var tagged = await Ec2Teardown.FindLiveAsync(client, [new Filter("tag:" + ClusterTags.Cluster, [ClusterName])], cancellationToken).ConfigureAwait(false);
        ids.UnionWith(tagged.Select(i => i.InstanceId));
        RecordIds(ids);

        if (ids.Count == 0)
        {
            return;
        }

        _logger.LogInformation("Terminating {Count} EC2 instance(s) of {Cluster} ({Reason}): {Ids}", ids.Count, ClusterName, reason, string.Join(", ", ids));
        await Ec2Teardown.TerminateAndWaitAsync(client, ids, _tuning, _time, MarkTerminated, cancellationToken).ConfigureAwait(false);
        _logger.LogInformation("All {Count} EC2 instance(s) of {Cluster} are terminated", ids.Count, ClusterName);
    }

    private async Task DeleteSecurityGroupAsync(IAmazonEC2 client, CancellationToken cancellationToken)
    {
        if (SecurityGroupId is not { } groupId || _securityGroupDeleted)
        {
            return;
        }

        await Ec2Teardown.DeleteSecurityGroupAsync(client, groupId, _tuning, _time, _logger, cancellationToken).ConfigureAwait(false);
        _securityGroupDeleted = true;
        _logger.LogInformation("Deleted security group {Group} of {Cluster}", groupId, ClusterName);
    }

    private void RecordIds(IEnumerable<string> ids)
    {
        lock (_instances)
        {
            foreach (var id in ids.Where(id => _instances.All(i => i.Id != id)))
            {
                _instances.Add(new LaunchedInstance(id, _time.GetUtcNow()));
            }
        }
    }

    private void MarkTerminated(string id)
    {
        lock (_instances)
        {
            foreach (var instance in _instances.Where(i => i.Id == id && i.TerminatedAt is null))
            {
                instance.TerminatedAt = _time.GetUtcNow();
            }
        }
    }

    private void LogCost()
    {
        var instances = Snapshot();
        if (instances.Count == 0)
        {
            return;
        }

        var longest = instances.Max(i => (i.TerminatedAt ?? _time.GetUtcNow()) - i.LaunchedAt);
        var cost = Cost;
        _logger.LogInformation("{Summary}", CostSummary(instances.Count, _options.InstanceType, longest, cost));
    }

    /// <summary>E.g. <c>4 x c7i.large for 6m12s ≈ $0.04</c>.</summary>
    internal static string CostSummary(int count, string instanceType, TimeSpan duration, decimal? cost)
    {
        var money = cost switch
        {
            null => "cost unknown (no price for this instance type)",
            < 0.01m => "≈ < $0.01",
            { } c => "≈ $" + c.ToString("0.00", CultureInfo.InvariantCulture),
        };
        return $"{count} x {instanceType} for {FormatDuration(duration)} {money}";
    }

    internal static string FormatDuration(TimeSpan duration)
    {
        var seconds = (long)Math.Max(0, Math.Round(duration.TotalSeconds));
        return seconds switch
        {
            < 60 => $"{seconds}s",
            < 3600 => $"{seconds / 60}m{seconds % 60:00}s",
            _ => $"{seconds / 3600}h{seconds / 60 % 60:00}m",
        };
    }
}
