namespace Coiled.Remote.Ec2;

/// <summary>
/// What EC2 refused while a start asked for capacity, and which candidates are out for good: a quota that refused even
/// one instance blocks its market (spot or on-demand) for that type's vCPU bucket, and a refusal that
/// does not depend on capacity (<c>Unsupported</c>) blocks its candidate; capacity errors and throttling only skip a
/// candidate for the current round.
/// </summary>
internal sealed class CapacityRefusals
{
    private readonly List<string> _reasons = [];
    private readonly HashSet<string> _blockedBuckets = new(StringComparer.Ordinal);
    private readonly HashSet<string> _blockedSpotBuckets = new(StringComparer.Ordinal);
    private readonly HashSet<LaunchCandidate> _never = [];

    /// <summary>The clear form of the first quota refusal, which a failed start then throws.</summary>
    public ClusterStartException? Quota { get; private set; }

    public void NoCapacity(LaunchCandidate candidate, string code) => Add($"{candidate}: {code}");

    /// <summary>The candidate will never work (e.g. <c>Unsupported</c>): it is not asked again.</summary>
    public void Never(LaunchCandidate candidate, string code)
    {
        Add($"{candidate}: {code}");
        _never.Add(candidate);
    }

    public void QuotaExceeded(LaunchCandidate candidate, string code, ClusterStartException? quota)
    {
        Add($"{candidate}: {code}");
        Quota ??= quota;
        (candidate.Spot ? _blockedSpotBuckets : _blockedBuckets).Add(CapacityCheck.FamilyBucket(candidate.InstanceType));
    }

    public bool IsBlocked(LaunchCandidate candidate)
        => _never.Contains(candidate) || (candidate.Spot ? _blockedSpotBuckets : _blockedBuckets).Contains(CapacityCheck.FamilyBucket(candidate.InstanceType));

    /// <summary>The refusals, each once, most recent last: e.g. <c>c7i.large spot in us-east-1a (subnet-1): InsufficientInstanceCapacity</c>.</summary>
    public string Summary() => string.Join("; ", _reasons);

    private void Add(string reason)
    {
        if (!_reasons.Contains(reason))
        {
            _reasons.Add(reason);
        }
    }
}
