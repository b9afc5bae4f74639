using Amazon.EC2;
using Amazon.EC2.Model;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Ec2;

/// <summary>Finds Coiled.Remote clusters by their tags, lists them, and removes those left behind.</summary>
internal sealed class Ec2Sweeper(Ec2Options options, Ec2Tuning tuning, TimeProvider time, ILogger logger)
{
    public async Task<IReadOnlyList<Ec2ClusterSummary>> ListAsync(CancellationToken cancellationToken)
    {
        var (client, _, _) = await Ec2ClientFactory.CreateAsync(options, cancellationToken).ConfigureAwait(false);
        using (client)
        {
            return await FindAsync(client, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The region's staging bucket and what it holds; null when there is none.</summary>
    public async Task<Ec2StagingSummary?> StagingAsync(CancellationToken cancellationToken)
    {
        var (client, credentials, region) = await Ec2ClientFactory.CreateAsync(options, cancellationToken).ConfigureAwait(false);
        client.Dispose();
        var account = await AccountIdentity.AccountIdAsync(options, credentials, region, cancellationToken).ConfigureAwait(false);
        using var s3 = S3ClientFactory.Create(options, credentials, region);
        return await StagingBucket.SummarizeAsync(s3, StagingBucket.NameFor(account, region), account, cancellationToken).ConfigureAwait(false);
    }

    public async Task<Ec2CleanupReport> CleanupAsync(bool includeLiveClusters, CancellationToken cancellationToken)
    {
        var (client, credentials, region) = await Ec2ClientFactory.CreateAsync(options, cancellationToken).ConfigureAwait(false);
        using (client)
        {
            var clusters = await FindAsync(client, cancellationToken).ConfigureAwait(false);
            var removed = clusters.Where(c => includeLiveClusters || c.StaleReason is not null).ToList();
            var kept = clusters.Except(removed).ToList();
            foreach (var cluster in removed)
            {
                logger.RemovingCluster(
                    cluster.Name, cluster.StaleReason ?? "asked to remove every cluster", string.Join(", ", cluster.InstanceIds.DefaultIfEmpty("none")),
                    string.Join(", ", cluster.SecurityGroupIds.DefaultIfEmpty("none")));
            }

            var instances = removed.SelectMany(c => c.InstanceIds).Distinct(StringComparer.Ordinal).ToList();
            await Ec2Teardown.TerminateAndWaitAsync(client, instances, tuning, time, instance => logger.InstanceTerminated(instance.InstanceId), cancellationToken).ConfigureAwait(false);
            await Task.WhenAll(removed.SelectMany(c => c.SecurityGroupIds).Distinct(StringComparer.Ordinal)
                .Select(g => Ec2Teardown.DeleteSecurityGroupAsync(client, g, tuning, time, logger, cancellationToken))).ConfigureAwait(false);
            foreach (var cluster in kept)
            {
                logger.KeptCluster(
                    cluster.Name, cluster.Owner, region,
                    cluster.KeptAs is { } keptAs ? $"named cluster '{keptAs}', kept for its next start while its instances run" : "it is not expired and its owner is not known to be gone");
            }

            // What removed clusters left in the staging bucket: boot secrets of a start that never ended; and with
            // every cluster removed, the bucket itself.
            var account = await AccountIdentity.AccountIdAsync(options, credentials, region, cancellationToken).ConfigureAwait(false);
            using var s3 = S3ClientFactory.Create(options, credentials, region);
            var bucket = StagingBucket.NameFor(account, region);
            if (includeLiveClusters)
            {
                return new Ec2CleanupReport(removed, kept) { StagingBucketRemoved = await StagingBucket.RemoveAsync(s3, bucket, account, logger, cancellationToken).ConfigureAwait(false) };
            }

            foreach (var cluster in removed)
            {
                var deleted = await StagingBucket.DeletePrefixAsync(s3, bucket, account, BootSecrets.PrefixOf(cluster.Name), cancellationToken).ConfigureAwait(false);
                if (deleted > 0)
                {
                    logger.StaleBootSecretsDeleted(deleted, cluster.Name, bucket);
                }
            }

            return new Ec2CleanupReport(removed, kept);
        }
    }

    private async Task<List<Ec2ClusterSummary>> FindAsync(IAmazonEC2 client, CancellationToken cancellationToken)
    {
        var hasClusterTag = new Filter("tag-key", [ClusterTags.Cluster]);
        var instances = await Ec2Calls.FindLiveAsync(client, [hasClusterTag], cancellationToken).ConfigureAwait(false);
        var groups = new List<SecurityGroup>();
        string? next = null;
        do
        {
            var response = await client.DescribeSecurityGroupsAsync(new DescribeSecurityGroupsRequest { Filters = [hasClusterTag], NextToken = next }, cancellationToken).ConfigureAwait(false);
            groups.AddRange(response.SecurityGroups ?? []);
            next = response.NextToken;
        }
        while (!string.IsNullOrEmpty(next));

        var now = time.GetUtcNow();
        var isAlive = tuning.IsProcessAlive ?? OwnerIdentity.IsAlive;
        var names = instances.Select(i => ClusterTags.Get(i.Tags, ClusterTags.Cluster))
            .Concat(groups.Select(g => ClusterTags.Get(g.Tags, ClusterTags.Cluster)))
            .OfType<string>().Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        var clusters = new List<Ec2ClusterSummary>();
        var spotPrices = new SpotPrices(client, time);
        foreach (var name in names)
        {
            var mine = instances.Where(i => ClusterTags.Get(i.Tags, ClusterTags.Cluster) == name).ToList();
            var myGroups = groups.Where(g => ClusterTags.Get(g.Tags, ClusterTags.Cluster) == name).ToList();
            var tags = mine.SelectMany(i => i.Tags ?? []).Concat(myGroups.SelectMany(g => g.Tags ?? [])).ToList();
            var owner = ClusterTags.Get(tags, ClusterTags.Owner);
            var expires = ClusterTags.ParseExpiry(ClusterTags.Get(tags, ClusterTags.Expires));
            var launched = mine.Where(i => i.LaunchTime is not null).Select(i => new DateTimeOffset(DateTime.SpecifyKind(i.LaunchTime!.Value, DateTimeKind.Utc))).ToList();
            var first = launched.Count == 0 ? (DateTimeOffset?)null : launched.Min();
            var (cost, costNote) = await CostOfAsync(mine, spotPrices, now, cancellationToken).ConfigureAwait(false);

            clusters.Add(new Ec2ClusterSummary(
                name,
                owner,
                expires,
                [.. mine.Select(i => i.InstanceId)],
                [.. mine.Select(i => i.InstanceType?.Value ?? "?").Distinct(StringComparer.Ordinal)],
                [.. myGroups.Select(g => g.GroupId)],
                first,
                first is null ? TimeSpan.Zero : now - first.Value,
                cost.Total,
                StaleReason(OwnerIdentity.Parse(owner), expires, now, isAlive, ClusterTags.Get(tags, ClusterTags.KeptAs), mine.Count(IsUp)))
            {
                KeptAs = ClusterTags.Get(tags, ClusterTags.KeptAs),
                CostBreakdown = cost,
                CostNote = costNote,
            });
        }

        return clusters;
    }

    /// <summary>
    /// What <paramref name="instances"/> have cost so far: spot instances at their zone's spot price (the on-demand
    /// price when EC2 does not tell it, which the note says), and the root volumes at the Amazon Linux 2023 size, which
    /// DescribeInstances does not show.
    /// </summary>
    private static async Task<(Ec2CostBreakdown Cost, string? Note)> CostOfAsync(
        IReadOnlyList<Instance> instances, SpotPrices spotPrices, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var cost = Ec2CostBreakdown.Zero;
        var notes = new List<string>();
        foreach (var instance in instances.Where(i => i.LaunchTime is not null))
        {
            var type = instance.InstanceType?.Value ?? string.Empty;
            var hourly = InstancePrices.OnDemandHourly(type);
            if (instance.InstanceLifecycle == InstanceLifecycleType.Spot && instance.Placement?.AvailabilityZone is { } zone)
            {
                var (spot, unknown) = await spotPrices.HourlyAsync(type, zone, cancellationToken).ConfigureAwait(false);
                hourly = spot ?? hourly;
                if (unknown is not null)
                {
                    notes.Add($"spot price of {type} in {zone} unknown ({unknown}); charged at the on-demand price");
                }
            }

            var running = now - new DateTimeOffset(DateTime.SpecifyKind(instance.LaunchTime!.Value, DateTimeKind.Utc));
            cost = cost.Plus(InstancePrices.Breakdown(hourly, running, AmazonLinuxImage.RootVolumeGiB, publicAddress: !string.IsNullOrEmpty(instance.PublicIpAddress)));
        }

        return (cost, notes.Count == 0 ? null : string.Join("; ", notes.Distinct(StringComparer.Ordinal)));
    }

    private static bool IsUp(Instance instance) => instance.State?.Name?.Value is "pending" or "running";

    private static string? StaleReason(OwnerIdentity? owner, DateTimeOffset? expires, DateTimeOffset now, Func<int, bool> isAlive, string? keptAs, int up)
    {
        if (expires is null)
        {
            return "no valid coiled-remote:expires tag";
        }

        if (expires <= now)
        {
            return $"expired at {ClusterTags.FormatExpiry(expires.Value)}";
        }

        if (keptAs is not null && up > 0)
        {
            // A named cluster outlives its owner on purpose; its instances end themselves after their keep-alive.
            return null;
        }

        if (owner is null)
        {
            return "no valid coiled-remote:owner tag";
        }

        return owner.IsGone(isAlive) ? $"its owner, process {owner.ProcessId} on {owner.Host}, is gone" : null;
    }
}
