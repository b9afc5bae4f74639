using Amazon.EC2;
using Amazon.EC2.Model;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Ec2;

/// <summary>
/// The steps that remove EC2 resources, shared by a cluster's own teardown (<see cref="ClusterTeardown"/>) and by
/// cleanup (<see cref="Ec2Sweeper"/>): terminate, wait until EC2 reports terminated, then delete the security group,
/// retrying while a lingering network interface holds it.
/// </summary>
internal static partial class Ec2Teardown
{
    /// <summary>Terminates <paramref name="ids"/> and returns once EC2 reports each of them terminated.</summary>
    public static async Task TerminateAndWaitAsync(
        IAmazonEC2 client, IReadOnlyCollection<string> ids, Ec2Tuning tuning, TimeProvider time, Action<Instance> terminated, CancellationToken cancellationToken)
    {
        if (ids.Count == 0)
        {
            return;
        }

        await TerminateAsync(client, ids, tuning, time, cancellationToken).ConfigureAwait(false);

        // TerminateInstances only starts termination; a security group can go once its instances are gone.
        var remaining = new HashSet<string>(ids, StringComparer.Ordinal);
        while (true)
        {
            foreach (var instance in await Ec2Calls.FindByIdAsync(client, remaining, cancellationToken).ConfigureAwait(false))
            {
                if (instance.State?.Name?.Value == "terminated" && remaining.Remove(instance.InstanceId))
                {
                    terminated(instance);
                }
            }

            if (remaining.Count == 0)
            {
                return;
            }

            await Task.Delay(tuning.PollInterval, time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Terminates <paramref name="ids"/>. EC2 may not know an instance it launched moments ago (eventual consistency),
    /// and then refuses the whole call naming the ids it does not know: the others are terminated at once, and those
    /// retried with backoff for up to <see cref="Ec2Tuning.InstanceNotFoundPatience"/> (AWS advises minutes).
    /// </summary>
    public static async Task TerminateAsync(IAmazonEC2 client, IReadOnlyCollection<string> ids, Ec2Tuning tuning, TimeProvider time, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + tuning.InstanceNotFoundPatience;
        var delay = tuning.FirstRetryDelay;
        var left = new List<string>(ids);
        while (left.Count > 0)
        {
            try
            {
                await client.TerminateInstancesAsync(new TerminateInstancesRequest { InstanceIds = [.. left] }, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (AmazonEC2Exception ex) when (ex.ErrorCode == Ec2ErrorCodes.InstanceNotFound && time.GetUtcNow() < deadline)
            {
                var unknown = InstanceIds().Matches(ex.Message).Select(m => m.Value).Where(left.Contains).ToHashSet(StringComparer.Ordinal);
                if (unknown.Count > 0 && unknown.Count < left.Count)
                {
                    // Stop the billing of the instances EC2 knows now; wait only for the others.
                    await client.TerminateInstancesAsync(new TerminateInstancesRequest { InstanceIds = [.. left.Where(id => !unknown.Contains(id))] }, cancellationToken).ConfigureAwait(false);
                    left = [.. unknown];
                    continue;
                }

                await Task.Delay(Ec2Calls.Earlier(delay, deadline - time.GetUtcNow()), time, cancellationToken).ConfigureAwait(false);
                delay = Ec2Calls.NextRetryDelay(delay, tuning);
            }
        }
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"\bi-[0-9a-f]+\b")]
    private static partial System.Text.RegularExpressions.Regex InstanceIds();

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
                logger.SecurityGroupInUse(groupId, ex.Message, delay);
                await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
                delay = Ec2Calls.NextRetryDelay(delay, tuning);
            }
            catch (AmazonEC2Exception ex) when (ex.ErrorCode == Ec2ErrorCodes.GroupNotFound)
            {
                return;
            }
        }
    }
}
