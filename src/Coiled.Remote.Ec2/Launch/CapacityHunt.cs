using Amazon.EC2;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Ec2;

/// <summary>
/// Asks EC2 for a start's instances where it has room: each RunInstances takes between one and the number still
/// missing (<paramref name="run"/>), place after place (<see cref="LaunchCandidate.InOrder"/>), round after round until
/// all are launched, or the minimum is and the capacity deadline came; quotas and refusals that waiting cannot change
/// end it sooner (<see cref="CapacityRefusals"/>). <c>run</c> launches up to the given number of instances on a
/// candidate and returns how many EC2 launched, or throws its refusal.
/// </summary>
internal sealed class CapacityHunt(
    IAmazonEC2 client, Ec2Options options, string region, string clusterName, Ec2Tuning tuning, TimeProvider time, ILogger logger,
    Func<LaunchCandidate, int, CancellationToken, Task<int>> run)
{
    /// <summary>How often a start asks again for capacity EC2 refused everywhere.</summary>
    public static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Launches up to <paramref name="count"/> instances on <paramref name="candidates"/>, taking whatever capacity EC2
    /// has (see <see cref="LaunchCandidate.InOrder"/>) and asking again until at least <paramref name="minimum"/> are
    /// launched, and returns then. The rest are asked for in the background (<c>Remaining</c>) until all are launched, or the
    /// deadline (<see cref="Ec2Options.CapacityTimeout"/>) comes or nothing is left to try; <c>Remaining</c> then tells how
    /// many were launched in all, and why not all when fewer.
    /// </summary>
    /// <param name="candidates">Where instances can go.</param>
    /// <param name="count">How many to launch.</param>
    /// <param name="minimum">How many to launch before returning.</param>
    /// <param name="cancellationToken">Stops asking.</param>
    /// <param name="zone">The zone to try first (where the cluster's instances are); null for the first that has room.</param>
    /// <exception cref="ClusterStartException">Fewer than <paramref name="minimum"/> could be launched: a quota, or no capacity anywhere.</exception>
    public async Task<(int Launched, Task<(int Launched, string? Shortfall)> Remaining)> HuntAsync(
        IReadOnlyList<LaunchCandidate> candidates, int count, int minimum, CancellationToken cancellationToken, string? zone = null)
    {
        var deadline = time.GetUtcNow() + options.CapacityTimeout;
        var retry = tuning.CapacityRetryInterval ?? RetryInterval;
        var refusals = new CapacityRefusals();
        var types = InstanceLauncher.TypesOf(options);
        var launched = 0;

        // Rounds until `target` are launched (true), or until nothing is left to try or the deadline (false). After the
        // minimum, only the background task runs rounds: the counters are never touched by two at once.
        async Task<bool> RoundsAsync(int target, bool waitFirst)
        {
            while (true)
            {
                if (waitFirst)
                {
                    await Task.Delay(Ec2Calls.Earlier(retry, deadline - time.GetUtcNow()), time, cancellationToken).ConfigureAwait(false);
                }

                waitFirst = true;
                foreach (var candidate in LaunchCandidate.InOrder(candidates, zone, types))
                {
                    if (launched == count)
                    {
                        break;
                    }

                    if (refusals.IsBlocked(candidate))
                    {
                        continue;
                    }

                    var more = await LaunchOnAsync(candidate, count - launched, count, minimum < count, refusals, cancellationToken).ConfigureAwait(false);
                    if (more > 0)
                    {
                        launched += more;
                        zone ??= candidate.Zone;
                    }
                }

                if (launched >= target)
                {
                    return true;
                }

                if (candidates.All(refusals.IsBlocked) || time.GetUtcNow() >= deadline)
                {
                    return false;
                }

                if (launched > 0)
                {
                    logger.PartialCapacity(launched, count, clusterName, retry.TotalSeconds, options.CapacityTimeout.TotalSeconds);
                }
            }
        }

        async Task<(int Launched, string? Shortfall)> RestAsync()
        {
            logger.PartialCapacity(launched, count, clusterName, retry.TotalSeconds, options.CapacityTimeout.TotalSeconds);
            if (await RoundsAsync(count, waitFirst: true).ConfigureAwait(false))
            {
                return (launched, null);
            }

            logger.StartingWithFewer(clusterName, launched, count, minimum, refusals.Summary());
            return (launched, $"EC2 had capacity for {launched} of the {count} instance(s) of cluster {clusterName} within {options.CapacityTimeout.TotalSeconds:0} s; it refused: {refusals.Summary()}");
        }

        if (!await RoundsAsync(minimum, waitFirst: false).ConfigureAwait(false))
        {
            // A quota that refused is the reason to give: capacity elsewhere did not make up for it.
            throw TooFew(launched, count, minimum, refusals, quota: refusals.Quota is not null);
        }

        return launched == count ? (launched, Task.FromResult<(int, string?)>((launched, null))) : (launched, RestAsync());
    }

    private static bool IsProfileRefusal(AmazonEC2Exception ex)
        => ex.ErrorCode == "InvalidParameterValue" && ex.Message.Contains("iamInstanceProfile", StringComparison.OrdinalIgnoreCase);

    /// <summary>Why a start could not launch its minimum: the quota that refused (with the need and how to get more), or every refusal.</summary>
    private ClusterStartException TooFew(int launched, int count, int minimum, CapacityRefusals refusals, bool quota)
    {
        var got = launched == 0
            ? "EC2 launched nothing, so nothing is billed."
            : $"EC2 launched {launched} of the {count} instance(s) (the cluster needs at least {minimum}); they are terminated.";
        if (quota && refusals.Quota is { } exceeded)
        {
            return new ClusterStartException(exceeded.Message.Replace("EC2 launched nothing, so nothing is billed.", got, StringComparison.Ordinal), exceeded);
        }

        return new ClusterStartException(
            $"EC2 had no capacity for cluster {clusterName} within {options.CapacityTimeout.TotalSeconds:0} s: {got} " +
            $"It refused: {refusals.Summary()}. Try other instance types (Ec2Options.InstanceTypes), other subnets (Ec2Options.SubnetIds), " +
            "on-demand instead of spot, a lower ClusterOptions.MinimumWorkers, or a longer Ec2Options.CapacityTimeout.");
    }

    /// <summary>
    /// Asks for up to <paramref name="count"/> instances on <paramref name="candidate"/>, taking as few as one
    /// (MinCount 1); returns how many EC2 launched, 0 when it refused for capacity or a quota (recorded in
    /// <paramref name="refusals"/>). When the cluster may start with fewer than its <paramref name="total"/>
    /// (<paramref name="partial"/>), a vCPU quota that refuses them all is asked again for half as many.
    /// </summary>
    private async Task<int> LaunchOnAsync(
        LaunchCandidate candidate, int count, int total, bool partial, CapacityRefusals refusals, CancellationToken cancellationToken)
    {
        var profileDeadline = (DateTimeOffset?)null;
        var delay = tuning.FirstRetryDelay;
        for (var asked = count; ; asked = Math.Max(1, asked / 2))
        {
            try
            {
                return await run(candidate, asked, cancellationToken).ConfigureAwait(false);
            }
            catch (AmazonEC2Exception ex) when (IsProfileRefusal(ex) && time.GetUtcNow() < (profileDeadline ??= time.GetUtcNow() + tuning.InstanceProfilePatience))
            {
                // A profile created moments ago is unknown to EC2 for a while (IAM is eventually consistent).
                await Task.Delay(Ec2Calls.Earlier(delay, profileDeadline.Value - time.GetUtcNow()), time, cancellationToken).ConfigureAwait(false);
                delay = Ec2Calls.NextRetryDelay(delay, tuning);
                asked *= 2;
            }
            catch (AmazonEC2Exception ex) when (Ec2ErrorCodes.NoCapacity.Contains(ex.ErrorCode) || Ec2ErrorCodes.TryLater.Contains(ex.ErrorCode))
            {
                logger.NoCapacity(candidate.ToString(), ex.ErrorCode, ex.Message);
                refusals.NoCapacity(candidate, ex.ErrorCode);
                return 0;
            }
            catch (AmazonEC2Exception ex) when (Ec2ErrorCodes.NeverHere.Contains(ex.ErrorCode))
            {
                // This type in this zone and market will not work however long the start waits.
                logger.NoCapacity(candidate.ToString(), ex.ErrorCode, ex.Message);
                refusals.Never(candidate, ex.ErrorCode);
                return 0;
            }
            catch (AmazonEC2Exception ex) when (IsProfileRefusal(ex))
            {
                throw new ClusterStartException(
                    $"EC2 refused the instance profile {options.InstanceProfile} (Ec2Options.InstanceProfile) for {tuning.InstanceProfilePatience.TotalSeconds:0} s: {ex.Message}. Nothing was launched. " +
                    "Give the name or ARN of an instance profile of this account (`aws iam list-instance-profiles`), and let the caller pass its role (iam:PassRole).",
                    ex);
            }
            catch (AmazonEC2Exception ex) when (ex.ErrorCode == Ec2ErrorCodes.UnauthorizedOperation)
            {
                throw new ClusterStartException(
                    (options.InstanceProfile is { } profile
                        ? $"EC2 refused to launch {candidate} with the instance profile {profile}: these credentials may not launch instances, or may not pass the profile's role (iam:PassRole on it, README: AWS access from tasks). "
                        : $"EC2 refused to launch {candidate}: these credentials may not launch instances (ec2:RunInstances and ec2:CreateTags, README: Permissions). ") +
                    "Nothing was launched. `aws sts decode-authorization-message --encoded-message ...` on the message below names the action and resource refused. " +
                    $"EC2 said: {ex.Message}",
                    ex);
            }
            catch (AmazonEC2Exception ex) when (ex.ErrorCode is Ec2ErrorCodes.VcpuLimitExceeded or Ec2ErrorCodes.MaxSpotInstanceCountExceeded)
            {
                if (ex.ErrorCode == Ec2ErrorCodes.VcpuLimitExceeded && partial && asked > 1)
                {
                    continue;
                }

                logger.NoCapacity(candidate.ToString(), ex.ErrorCode, ex.Message);
                var quota = ex.ErrorCode == Ec2ErrorCodes.VcpuLimitExceeded
                    ? await CapacityCheck.QuotaExceededAsync(client, ex, candidate.InstanceType, total, region, cancellationToken).ConfigureAwait(false)
                    : CapacityCheck.SpotQuotaExceeded(ex, candidate.InstanceType, total, region);
                refusals.QuotaExceeded(candidate, ex.ErrorCode, quota);
                return 0;
            }
        }
    }
}
