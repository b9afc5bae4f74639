namespace Coiled.Remote.KeptClusters;

/// <summary>One named cluster of this machine as <c>coiled-remote ls</c> shows it.</summary>
/// <param name="Name">The cluster's name.</param>
/// <param name="Backend">Where its workers run.</param>
/// <param name="Running">Its workers that run now; null when unknown (cloud workers, not asked about).</param>
/// <param name="Registered">Its workers the registry lists.</param>
/// <param name="Age">Since the cluster started.</param>
/// <param name="Idle">Since its last client let go of it; null while a client uses it.</param>
/// <param name="StopsIn">How long its workers wait for a client still; null while a client uses it.</param>
/// <param name="Cost">What its machines cost so far in US dollars, where known.</param>
internal sealed record NamedClusterStatus(string Name, string Backend, int? Running, int Registered, TimeSpan Age, TimeSpan? Idle, TimeSpan? StopsIn, decimal? Cost);
