using Amazon.EC2.Model;

namespace Coiled.Remote.Ec2;

/// <summary>
/// What one cluster created in EC2 and what it has cost: its instances (when each was launched, at what price, when it
/// was seen terminated), its security group, and the launches EC2 has not answered (by client token). The launcher
/// adds to it, teardown reads it to know what to remove, and the backend reads it for <see cref="Ec2Backend.Cost"/>.
/// </summary>
internal sealed class ClusterResources(TimeProvider time)
{
    private readonly List<LaunchedInstance> _instances = [];
    private readonly HashSet<string> _unanswered = new(StringComparer.Ordinal);
    private string? _securityGroupId;
    private volatile bool _anyLaunchSent;

    /// <summary>The cluster's security group, once created.</summary>
    public string? SecurityGroupId => Volatile.Read(ref _securityGroupId);

    /// <summary>
    /// The client tokens of RunInstances requests that were sent and not answered: instances may exist that no id names
    /// yet, which DescribeInstances finds by their client token. (Repeating the request would find them too, but would
    /// launch them if the request never reached EC2.)
    /// </summary>
    public IReadOnlyList<string> UnansweredLaunches
    {
        get
        {
            lock (_unanswered)
            {
                return [.. _unanswered];
            }
        }
    }

    /// <summary>Every instance launched or found so far.</summary>
    public IReadOnlyList<string> InstanceIds => [.. Snapshot().Select(i => i.Id)];

    /// <summary>The instances not yet seen terminated.</summary>
    public IReadOnlyList<string> LiveInstanceIds => [.. Snapshot().Where(i => i.TerminatedAt is null).Select(i => i.Id)];

    /// <summary>
    /// What the instances have cost so far, each per second from its launch until it was seen terminated (or now): their
    /// hours, public IPv4 addresses and root volumes; null when one of them has no known price.
    /// </summary>
    public decimal? Cost => CostBreakdown.Total;

    /// <summary>What the instances have cost so far, by what AWS bills for.</summary>
    public Ec2CostBreakdown CostBreakdown => CostOf(Snapshot(), time.GetUtcNow());

    /// <summary>
    /// Seconds the instances were billed for so far, added up: each from its launch until it was seen terminated (or
    /// now), at least a minute, as <see cref="Cost"/> counts their hours.
    /// </summary>
    public double PaidSeconds
    {
        get
        {
            var now = time.GetUtcNow();
            return Snapshot().Sum(i => InstancePrices.BilledSeconds((i.TerminatedAt ?? now) - i.LaunchedAt));
        }
    }

    /// <summary>What instance <paramref name="id"/> costs per hour, all told (<see cref="InstancePrices.HourlyAllTold"/>); null when unknown.</summary>
    public decimal? HourlyCost(string id)
        => Snapshot().FirstOrDefault(i => i.Id == id) is { } instance
            ? InstancePrices.HourlyAllTold(instance.HourlyPrice, instance.RootVolumeGiB, instance.PublicAddress)
            : null;

    /// <summary>The zone of the cluster's live instances (of the first, should they span several); null before any launch.</summary>
    public string? Zone => Snapshot().FirstOrDefault(i => i.TerminatedAt is null && i.Zone is not null)?.Zone;

    public void SecurityGroupCreated(string groupId) => Volatile.Write(ref _securityGroupId, groupId);

    /// <summary>Whether RunInstances was ever sent: until then no instance can carry the cluster's (fresh, random) name.</summary>
    public bool AnyLaunchSent => _anyLaunchSent;

    /// <summary>A RunInstances request with <paramref name="clientToken"/> is about to be sent.</summary>
    public void LaunchSent(string clientToken)
    {
        _anyLaunchSent = true;
        lock (_unanswered)
        {
            _unanswered.Add(clientToken);
        }
    }

    /// <summary>EC2 answered a launch with an error: it launched nothing.</summary>
    public void LaunchRefused(string clientToken)
    {
        lock (_unanswered)
        {
            _unanswered.Remove(clientToken);
        }
    }

    /// <summary>EC2 answered a launch, or its instances were found by its client token: they are the cluster's from now on.</summary>
    public void Launched(string clientToken, IEnumerable<Instance> instances)
    {
        var launchedAt = time.GetUtcNow();
        lock (_instances)
        {
            foreach (var instance in instances)
            {
                if (_instances.All(i => i.Id != instance.InstanceId))
                {
                    _instances.Add(new LaunchedInstance(instance.InstanceId, launchedAt));
                }
            }
        }

        LaunchRefused(clientToken);
    }

    /// <summary>Instances found by the cluster's tag that the cluster did not know of: they count from now.</summary>
    public void Found(IEnumerable<string> ids)
    {
        lock (_instances)
        {
            foreach (var id in ids.Where(id => _instances.All(i => i.Id != id)))
            {
                _instances.Add(new LaunchedInstance(id, time.GetUtcNow()));
            }
        }
    }

    /// <summary>
    /// Records what the instances one launch started cost: their type and market (<paramref name="candidate"/>), the
    /// price per hour they were launched at, the size of their root volumes, and whether they have a public address.
    /// </summary>
    public void Priced(IEnumerable<string> ids, LaunchCandidate candidate, decimal? hourly, int rootVolumeGiB, bool publicAddress = true)
    {
        var priced = ids.ToHashSet(StringComparer.Ordinal);
        lock (_instances)
        {
            foreach (var instance in _instances.Where(i => priced.Contains(i.Id)))
            {
                instance.InstanceType = candidate.InstanceType;
                instance.Zone = candidate.Zone;
                instance.Spot = candidate.Spot;
                instance.HourlyPrice = hourly;
                instance.RootVolumeGiB = rootVolumeGiB;
                instance.PublicAddress = publicAddress;
            }
        }
    }

    /// <summary>An instance EC2 reported terminated, or that the cluster terminated: it costs nothing from <paramref name="at"/> (default now).</summary>
    public void Terminated(string id, DateTimeOffset? at = null)
    {
        lock (_instances)
        {
            foreach (var instance in _instances.Where(i => i.Id == id && i.TerminatedAt is null))
            {
                instance.TerminatedAt = at is { } when && when >= instance.LaunchedAt && when <= time.GetUtcNow() ? when : time.GetUtcNow();
            }
        }
    }

    /// <summary>
    /// After describing the live instances (<paramref name="described"/>, what EC2 knows of them): those it reports
    /// terminated, and those it no longer knows although they were launched long enough ago to be visible (EC2 forgets
    /// terminated instances after about an hour), ended and cost nothing more: the first from when EC2 says they went.
    /// An instance EC2 does not list within <paramref name="visibleWithin"/> of its launch is taken as not yet listed.
    /// </summary>
    public void Settle(IReadOnlyCollection<Instance> described, TimeSpan visibleWithin)
    {
        var known = described.ToDictionary(i => i.InstanceId, StringComparer.Ordinal);
        var now = time.GetUtcNow();
        foreach (var instance in Snapshot().Where(i => i.TerminatedAt is null))
        {
            if (known.TryGetValue(instance.Id, out var found))
            {
                if (found.State?.Name?.Value == "terminated")
                {
                    Terminated(instance.Id, Ec2Calls.TransitionTime(found));
                }
            }
            else if (now - instance.LaunchedAt >= visibleWithin)
            {
                Terminated(instance.Id);
            }
        }
    }

    /// <summary>
    /// E.g. <c>4 x c7i.large (spot) for 6m12s: instances $0.021 + public IPv4 $0.002 + EBS $0.001 = $0.024</c>, from
    /// the longest-running instance; null before any launch. Instances only found by tag count as
    /// <paramref name="instanceType"/>, of unknown market and price.
    /// </summary>
    public string? CostSummary(string instanceType)
    {
        var instances = Snapshot();
        if (instances.Count == 0)
        {
            return null;
        }

        var now = time.GetUtcNow();
        var longest = instances.Max(i => (i.TerminatedAt ?? now) - i.LaunchedAt);
        var groups = instances
            .GroupBy(i => (Type: i.InstanceType ?? instanceType, i.Spot, Priced: i.HourlyPrice is not null))
            .Select(g => (g.Count(), g.Key.Type, g.Key.Spot, g.Key.Priced))
            .ToList();
        return CostText.CostSummary(groups, longest, CostOf(instances, now));
    }

    private static Ec2CostBreakdown CostOf(IReadOnlyList<LaunchedInstance> instances, DateTimeOffset now)
        => instances.Aggregate(
            Ec2CostBreakdown.Zero,
            (total, i) => total.Plus(InstancePrices.Breakdown(i.HourlyPrice, (i.TerminatedAt ?? now) - i.LaunchedAt, i.RootVolumeGiB, i.PublicAddress)));

    private List<LaunchedInstance> Snapshot()
    {
        lock (_instances)
        {
            return [.. _instances];
        }
    }

    /// <summary>One instance the cluster launched, and what it costs.</summary>
    private sealed class LaunchedInstance(string id, DateTimeOffset launchedAt)
    {
        public string Id { get; } = id;

        public DateTimeOffset LaunchedAt { get; } = launchedAt;

        public decimal? HourlyPrice { get; set; }

        public string? InstanceType { get; set; }

        public string? Zone { get; set; }

        /// <summary>Whether it is a spot instance; null for one found by tag, not launched by this cluster.</summary>
        public bool? Spot { get; set; }

        public int RootVolumeGiB { get; set; } = AmazonLinuxImage.RootVolumeGiB;

        public bool PublicAddress { get; set; } = true;

        public DateTimeOffset? TerminatedAt { get; set; }
    }
}
