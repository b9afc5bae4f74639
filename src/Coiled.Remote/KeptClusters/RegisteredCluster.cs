using System.Globalization;
using System.Text;
using Coiled.Remote.Security;

namespace Coiled.Remote.KeptClusters;

/// <summary>A named cluster as this machine's registry keeps it, in a file only its user can read.</summary>
internal sealed record RegisteredCluster
{
    /// <summary>The cluster's name (<see cref="ClusterOptions.Name"/>).</summary>
    public required string Name { get; init; }

    /// <summary>The kind of its workers (<see cref="IKeepingBackend.Kind"/>).</summary>
    public required string Backend { get; init; }

    /// <summary>The token its workers require; it never goes in a log.</summary>
    public required string Token { get; init; }

    /// <summary>When the cluster started.</summary>
    public required DateTimeOffset StartedAt { get; init; }

    /// <summary>How long the workers stay without a client (<see cref="ClusterOptions.KeepAlive"/> of the start that launched them).</summary>
    public required TimeSpan KeepAlive { get; init; }

    /// <summary>When a cluster last attached to it (or started it).</summary>
    public required DateTimeOffset AttachedAt { get; init; }

    /// <summary>When a cluster last let go of it; null while the one that attached last still runs, or was killed.</summary>
    public DateTimeOffset? ReleasedAt { get; init; }

    /// <summary>What the workers' machines cost per hour in US dollars, where the backend knows prices.</summary>
    public decimal? HourlyCost { get; init; }

    /// <summary>The workers.</summary>
    public required IReadOnlyList<RegisteredWorker> Workers { get; init; }

    /// <summary>What the backend keeps of the cluster as a whole (<see cref="IKeepingBackend.Properties"/>).</summary>
    public IReadOnlyDictionary<string, string> Properties { get; init; } = System.Collections.Immutable.ImmutableDictionary<string, string>.Empty;

    // The record may be logged or shown by a debugger: it says that the token is set, never what it is.
    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append(CultureInfo.InvariantCulture,
            $"Name = {Name}, Backend = {Backend}, Token = {Redacted.Text}, StartedAt = {StartedAt:O}, KeepAlive = {KeepAlive}, AttachedAt = {AttachedAt:O}, " +
            $"ReleasedAt = {ReleasedAt:O}, HourlyCost = {HourlyCost}, Workers = {Workers?.Count ?? 0}, " +
            $"Properties = {string.Join(", ", Properties?.Select(p => $"{p.Key}={p.Value}") ?? [])}");
        return true;
    }
}
