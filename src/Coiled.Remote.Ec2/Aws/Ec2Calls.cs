using Amazon.EC2;
using Amazon.EC2.Model;

namespace Coiled.Remote.Ec2;

/// <summary>
/// EC2 calls that launch, boot watching, teardown and cleanup all make: finding instances, describing them while EC2
/// may not know them yet, and retrying what eventual consistency refuses at first.
/// </summary>
internal static partial class Ec2Calls
{
    /// <summary>Every state but terminated: a stopped instance still bills for its volume.</summary>
    public static readonly string[] LiveStates = ["pending", "running", "shutting-down", "stopping", "stopped"];

    /// <summary>The instances matching <paramref name="filters"/> that are not terminated, every page of them.</summary>
    public static Task<List<Instance>> FindLiveAsync(IAmazonEC2 client, IEnumerable<Filter> filters, CancellationToken cancellationToken)
        => FindAsync(client, [.. filters, new Filter("instance-state-name", [.. LiveStates])], cancellationToken);

    /// <summary>
    /// The instances of <paramref name="ids"/> that EC2 knows, whatever their state; unlike describing them by id, an id
    /// it does not know (not yet, or no more: it forgets terminated instances after about an hour) is left out, not an error.
    /// </summary>
    public static async Task<List<Instance>> FindByIdAsync(IAmazonEC2 client, IReadOnlyCollection<string> ids, CancellationToken cancellationToken)
        => ids.Count == 0 ? [] : await FindAsync(client, [new Filter("instance-id", [.. ids])], cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// When EC2 says an instance stopped or terminated: the time in its state transition reason (e.g. <c>User initiated
    /// (2026-12-01 03:00:00 GMT)</c>), else null.
    /// </summary>
    public static DateTimeOffset? TransitionTime(Instance instance)
        => instance.StateTransitionReason is { } reason
           && TransitionTimeText().Match(reason) is { Success: true } match
           && DateTimeOffset.TryParseExact(match.Groups[1].Value, "yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture,
               System.Globalization.DateTimeStyles.AssumeUniversal, out var at)
            ? at
            : null;

    [System.Text.RegularExpressions.GeneratedRegex(@"\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) GMT\)")]
    private static partial System.Text.RegularExpressions.Regex TransitionTimeText();

    private static async Task<List<Instance>> FindAsync(IAmazonEC2 client, List<Filter> filters, CancellationToken cancellationToken)
    {
        var found = new List<Instance>();
        string? next = null;
        do
        {
            var response = await client.DescribeInstancesAsync(new DescribeInstancesRequest
            {
                Filters = filters,
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
