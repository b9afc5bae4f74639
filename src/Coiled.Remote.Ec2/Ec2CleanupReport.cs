namespace Coiled.Remote.Ec2;

/// <summary>What <see cref="Ec2Backend.CleanupAsync"/> removed and what it left.</summary>
/// <param name="Removed">Clusters whose instances were terminated and security groups deleted.</param>
/// <param name="Kept">Clusters that look in use (owner alive or on another machine, not expired).</param>
public sealed record Ec2CleanupReport(IReadOnlyList<Ec2ClusterSummary> Removed, IReadOnlyList<Ec2ClusterSummary> Kept);
