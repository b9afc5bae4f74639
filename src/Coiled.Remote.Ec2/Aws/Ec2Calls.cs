using Amazon.EC2;
using Amazon.EC2.Model;

namespace Coiled.Remote.Ec2;

/// <summary>
/// EC2 calls that launch, boot watching, teardown and cleanup all make: finding instances, describing them while EC2
/// may not know them yet, and retrying what eventual consistency refuses at first.
/// </summary>
internal static class Ec2Calls
{
    /// <summary>Every state but terminated: a stopped instance still bills for its volume.</summary>
    public static readonly string[] LiveStates = ["pending", "running", "shutting-down", "stopping", "stopped"];

    /// <summary>The instances matching <paramref name="filters"/> that are not terminated, every page of them.</summary>
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

    /// <summary>
    /// DescribeInstances by id, every page of the answer, treating ids EC2 does not know yet (eventual consistency) as
    /// not yet visible.
    /// </summary>
    public static async Task<IReadOnlyList<Instance>> DescribeAsync(IAmazonEC2 client, IReadOnlyCollection<string> ids, CancellationToken cancellationToken)
    {
        if (ids.Count == 0)
        {
            return [];
        }

        try
        {
            // An answer may be paged even when it names its instances: the instances of the later pages are as much
            // asked for as those of the first.
            var found = new List<Instance>();
            string? next = null;
            do
            {
                var response = await client.DescribeInstancesAsync(new DescribeInstancesRequest { InstanceIds = [.. ids], NextToken = next }, cancellationToken).ConfigureAwait(false);
                found.AddRange((response.Reservations ?? []).SelectMany(r => r.Instances ?? []));
                next = response.NextToken;
            }
            while (!string.IsNullOrEmpty(next));
            return found;
        }
        catch (AmazonEC2Exception ex) when (ex.ErrorCode == Ec2ErrorCodes.InstanceNotFound)
        {
            return [];
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
                delay = NextRetryDelay(delay, tuning);
            }
        }
    }

    /// <summary>The shorter of a wait and what is left until a deadline (never negative).</summary>
    public static TimeSpan Earlier(TimeSpan delay, TimeSpan left) => left <= TimeSpan.Zero ? TimeSpan.Zero : delay < left ? delay : left;

    /// <summary>The wait after <paramref name="delay"/>: twice as long, up to <see cref="Ec2Tuning.MaxRetryDelay"/>.</summary>
    public static TimeSpan NextRetryDelay(TimeSpan delay, Ec2Tuning tuning)
        => delay * 2 < tuning.MaxRetryDelay ? delay * 2 : tuning.MaxRetryDelay;
}
