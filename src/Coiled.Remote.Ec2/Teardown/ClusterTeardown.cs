using Amazon.EC2;
using Amazon.EC2.Model;
using Amazon.Runtime;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Ec2;

/// <summary>
/// Removes what one cluster created: terminates every instance it launched or that carries its tag (finding those of a
/// launch EC2 never answered by its client token, never by launching again), waits until EC2 reports them terminated,
/// deletes the security group, and logs what the cluster cost. Safe to run more than once, and concurrently.
/// </summary>
internal sealed class ClusterTeardown(
    IAmazonEC2 client, ClusterResources resources, string clusterName, string region, string instanceType, Ec2Tuning tuning, TimeProvider time, ILogger logger)
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private bool _securityGroupDeleted;
    private volatile bool _done;

    /// <summary>What else a teardown removes first, whoever starts it (disposal, a failed start, Ctrl+C): the boot secrets. Never throws.</summary>
    public Func<Task>? BeforeTeardown { get; set; }

    /// <summary>Removes everything the cluster created, once; later calls return at once.</summary>
    /// <exception cref="Ec2TeardownException">Something could not be removed; the message says what and how to remove it.</exception>
    public async Task TeardownAsync(string reason)
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_done)
            {
                return;
            }

            if (BeforeTeardown is { } before)
            {
                await before().ConfigureAwait(false);
            }

            using var timeout = new CancellationTokenSource(tuning.TeardownTimeout, time);
            try
            {
                await TerminateAllAsync(reason, timeout.Token).ConfigureAwait(false);
                await DeleteSecurityGroupAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is AmazonServiceException or AmazonClientException or OperationCanceledException or HttpRequestException)
            {
                var why = ex is OperationCanceledException ? $"it did not finish within {tuning.TeardownTimeout.TotalMinutes:0} min" : ex.Message;
                var message =
                    $"EC2 cluster {clusterName} could not be removed completely: {why}. Instances: {string.Join(", ", resources.InstanceIds.DefaultIfEmpty("none"))}; " +
                    $"security group: {(_securityGroupDeleted ? "deleted" : resources.SecurityGroupId ?? "none")}. The instances power themselves off when their client is gone; " +
                    $"run `coiled-remote ec2 cleanup --region {region}` to remove what is left.";
                logger.TeardownIncomplete(ex, message);
                throw new Ec2TeardownException(message, ex);
            }

            _done = true;
            if (resources.CostSummary(instanceType) is { } summary)
            {
                logger.CostSummary(summary);
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// The process is ending without the cluster having been disposed: there is no time to wait for termination, but
    /// one call stops the billing; the security group is left to <c>coiled-remote ec2 cleanup</c>.
    /// </summary>
    public void TerminateAtProcessExit()
    {
        if (_done)
        {
            return;
        }

        var ids = resources.LiveInstanceIds;
        if (ids.Count == 0)
        {
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            client.TerminateInstancesAsync(new TerminateInstancesRequest { InstanceIds = [.. ids] }, timeout.Token).GetAwaiter().GetResult();
            Console.Error.WriteLine($"coiled-remote: the process exited without disposing cluster {clusterName}: terminated {string.Join(", ", ids)}; run `coiled-remote ec2 cleanup` to delete its security group.");
        }
        catch (Exception ex) when (ex is AmazonServiceException or AmazonClientException or OperationCanceledException or HttpRequestException)
        {
            logger.TerminateAtExitFailed(ex, string.Join(", ", ids));
            Console.Error.WriteLine($"coiled-remote: could not terminate {string.Join(", ", ids)} as the process exited ({ex.Message}); run `coiled-remote ec2 cleanup`.");
        }
    }

    private async Task TerminateAllAsync(string reason, CancellationToken cancellationToken)
    {
        // What is known first, so that it stops billing at once; then what unanswered launches started, which can take
        // minutes to find (or to conclude that there is nothing).
        await TerminateKnownAsync(reason, cancellationToken).ConfigureAwait(false);
        if (resources.UnansweredLaunches.Count > 0)
        {
            await FindUnansweredLaunchesAsync(cancellationToken).ConfigureAwait(false);
            await TerminateKnownAsync(reason, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Terminates, and waits for, the instances the cluster knows of that live, plus anything tagged with its name.</summary>
    private async Task TerminateKnownAsync(string reason, CancellationToken cancellationToken)
    {
        // Instances that ended on their own (a spot interruption, a worker that powered its machine off) cost nothing
        // since, and EC2 forgets them an hour later, when terminating them again would fail.
        if (resources.LiveInstanceIds is { Count: > 0 } live)
        {
            resources.Settle(await Ec2Calls.FindByIdAsync(client, live, cancellationToken).ConfigureAwait(false), tuning.InstanceVisibleWithin);
        }

        // Known ids, plus anything tagged with the cluster's name, which only a launch can have made.
        var ids = new SortedSet<string>(resources.LiveInstanceIds, StringComparer.Ordinal);
        if (!resources.AnyLaunchSent && ids.Count == 0)
        {
            return;
        }

        var tagged = await Ec2Calls.FindLiveAsync(client, [new Filter("tag:" + ClusterTags.Cluster, [clusterName])], cancellationToken).ConfigureAwait(false);
        ids.UnionWith(tagged.Select(i => i.InstanceId));
        resources.Found(ids);

        if (ids.Count == 0)
        {
            return;
        }

        logger.Terminating(ids.Count, clusterName, reason, string.Join(", ", ids));
        await Ec2Teardown.TerminateAndWaitAsync(client, ids, tuning, time, instance => resources.Terminated(instance.InstanceId, Ec2Calls.TransitionTime(instance)), cancellationToken).ConfigureAwait(false);
        logger.AllTerminated(ids.Count, clusterName);
    }

    /// <summary>
    /// A launch whose answer was lost (Ctrl+C, a dropped connection) may have started instances that nothing lists yet,
    /// or none at all if the request never reached EC2. They are looked for by their client token and the cluster's tag,
    /// with backoff while EC2's lists catch up, for up to <see cref="Ec2Tuning.UnansweredLaunchPatience"/>.
    /// </summary>
    private async Task FindUnansweredLaunchesAsync(CancellationToken cancellationToken)
    {
        var open = new HashSet<string>(resources.UnansweredLaunches, StringComparer.Ordinal);
        if (open.Count == 0)
        {
            return;
        }

        logger.FindingUnansweredLaunches(open.Count, clusterName, tuning.UnansweredLaunchPatience.TotalSeconds);
        var deadline = time.GetUtcNow() + tuning.UnansweredLaunchPatience;
        var delay = tuning.FirstRetryDelay;
        while (true)
        {
            var found = await Ec2Calls.FindLiveAsync(
                client, [new Filter("client-token", [.. open]), new Filter("tag:" + ClusterTags.Cluster, [clusterName])], cancellationToken).ConfigureAwait(false);
            foreach (var launch in found.Where(i => i.ClientToken is not null).GroupBy(i => i.ClientToken, StringComparer.Ordinal))
            {
                resources.Launched(launch.Key, launch);
                open.Remove(launch.Key);
            }

            if (open.Count == 0 || time.GetUtcNow() >= deadline)
            {
                break;
            }

            await Task.Delay(Ec2Calls.Earlier(delay, deadline - time.GetUtcNow()), time, cancellationToken).ConfigureAwait(false);
            delay = Ec2Calls.NextRetryDelay(delay, tuning);
        }

        foreach (var token in open)
        {
            // Nothing came of it within the patience: the request never reached EC2, or EC2 refused it.
            logger.UnansweredLaunchFoundNothing(clusterName, token, tuning.UnansweredLaunchPatience.TotalSeconds);
            resources.LaunchRefused(token);
        }
    }

    private async Task DeleteSecurityGroupAsync(CancellationToken cancellationToken)
    {
        if (resources.SecurityGroupId is not { } groupId || _securityGroupDeleted)
        {
            return;
        }

        await Ec2Teardown.DeleteSecurityGroupAsync(client, groupId, tuning, time, logger, cancellationToken).ConfigureAwait(false);
        _securityGroupDeleted = true;
        logger.SecurityGroupDeleted(groupId, clusterName);
    }
}
