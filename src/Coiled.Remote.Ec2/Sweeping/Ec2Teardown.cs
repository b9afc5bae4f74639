using Amazon.EC2;
using Amazon.EC2.Model;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Ec2;

/// <summary>
/// The steps that remove EC2 resources, shared by a cluster's own teardown and by cleanup: terminate, wait until
/// EC2 reports terminated, then delete the security group, retrying while a lingering network interface holds it.
/// </summary>
internal static class Ec2Teardown
{
    /// <summary>Every state but terminated: a stopped instance still bills for its volume.</summary>
    public static readonly string[] LiveStates = ["pending", "running", "shutting-down", "stopping", "stopped"];

    public static async Task<List<Instance>> FindLiveAsync(IAmazonEC2 client, IEnumerable<Filter> filters, CancellationToken cancellationToken)
    {
        var found = new List<Instance>();
        string? next = null;
        do
        {
            var response = await client.DescribeInstancesAsync(new DescribeInstancesRequest
            {
                Filters = [.. filters, new Filter("instance-state-name", [.. LiveStates])],
                NextToken = next,
            }, cancellationToken).ConfigureAwait(false);
            found.AddRange((response.Reservations ?? []).SelectMany(r => r.Instances ?? []));
            next = response.NextToken;
        }
        while (!string.IsNullOrEmpty(next));
        return found;
    }

    /// <summary>DescribeInstances by id, treating ids EC2 does not know yet (eventual consistency) as not yet visible.</summary>
    public static async Task<IReadOnlyList<Instance>> DescribeAsync(IAmazonEC2 client, IReadOnlyCollection<string> ids, CancellationToken cancellationToken)
    {
        if (ids.Count == 0)
        {
            return [];
        }

        try
        {
            var response = await client.DescribeInstancesAsync(new DescribeInstancesRequest { InstanceIds = [.. ids] }, cancellationToken).ConfigureAwait(false);
            return [.. (response.Reservations ?? []).SelectMany(r => r.Instances ?? [])];
        }
        catch (AmazonEC2Exception ex) when (ex.ErrorCode == Ec2ErrorCodes.InstanceNotFound)
        {
            return [];
        }
    }

    /// <summary>Terminates <paramref name="ids"/> and returns once EC2 reports each of them terminated.</summary>
    public static async Task TerminateAndWaitAsync(
        IAmazonEC2 client, IReadOnlyCollection<string> ids, Ec2Tuning tuning, TimeProvider time, Action<string> terminated, CancellationToken cancellationToken)
    {
        if (ids.Count == 0)
        {
            return;
        }

        await RetryAsync(
            () => client.TerminateInstancesAsync(new TerminateInstancesRequest { InstanceIds = [.. ids] }, cancellationToken),
            Ec2ErrorCodes.InstanceNotFound, tuning, time, cancellationToken).ConfigureAwait(false);

        // TerminateInstances only starts termination; a security group can go once its instances are gone.
        var remaining = new HashSet<string>(ids, StringComparer.Ordinal);
        while (true)
        {
            foreach (var instance in await DescribeAsync(client, remaining, cancellationToken).ConfigureAwait(false))
            {
                if (instance.State?.Name?.Value == "terminated" && remaining.Remove(instance.InstanceId))
                {
                    terminated(instance.InstanceId);
                }
            }

            if (remaining.Count == 0)
            {
                return;
            }

            await Task.Delay(tuning.PollInterval, time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Deletes a security group, waiting while a terminated instance's network interface still holds it.</summary>
    public static async Task DeleteSecurityGroupAsync(IAmazonEC2 client, string groupId, Ec2Tuning tuning, TimeProvider time, ILogger logger, CancellationToken cancellationToken)
    {
        var delay = tuning.FirstRetryDelay;
        while (true)
        {
            try
            {
                await client.DeleteSecurityGroupAsync(new DeleteSecurityGroupRequest { GroupId = groupId }, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (AmazonEC2Exception ex) when (ex.ErrorCode == Ec2ErrorCodes.DependencyViolation)
            {
                logger.LogDebug("Security group {Group} is still in use ({Message}); retrying in {Delay}", groupId, ex.Message, delay);
                await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
                delay = Min(delay * 2, tuning.MaxRetryDelay);
            }
            catch (AmazonEC2Exception ex) when (ex.ErrorCode == Ec2ErrorCodes.GroupNotFound)
            {
                return;
            }
        }
    }

    /// <summary>Retries a call that failed with <paramref name="retriedCode"/> (eventual consistency), a few times with backoff.</summary>
    public static async Task RetryAsync(Func<Task> call, string retriedCode, Ec2Tuning tuning, TimeProvider time, CancellationToken cancellationToken)
    {
        var delay = tuning.FirstRetryDelay;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await call().ConfigureAwait(false);
                return;
            }
            catch (AmazonEC2Exception ex) when (ex.ErrorCode == retriedCode && attempt < 5)
            {
                await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
                delay = Min(delay * 2, tuning.MaxRetryDelay);
            }
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
