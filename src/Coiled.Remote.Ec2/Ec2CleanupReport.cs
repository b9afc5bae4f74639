namespace Coiled.Remote.Ec2;

/// <summary>What <see cref="Ec2Backend.CleanupAsync"/> removed and what it left.</summary>
/// <param name="Removed">Clusters whose instances were terminated and security groups deleted.</param>
/// <param name="Kept">Clusters that look in use (owner alive or on another machine, not expired).</param>
public sealed record Ec2CleanupReport(IReadOnlyList<Ec2ClusterSummary> Removed, IReadOnlyList<Ec2ClusterSummary> Kept)
{
    /// <summary>The staging bucket, emptied and deleted, when every cluster was removed (<c>--all</c>); null when it was kept or there was none.</summary>
    public Ec2StagingSummary? StagingBucketRemoved { get; init; }
}
