using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coiled.Remote.Ec2;

public sealed partial class Ec2Backend
{
    /// <summary>
    /// Removes what crashed or killed callers left in <see cref="Ec2Options.Region"/>: every tagged cluster whose
    /// <c>coiled-remote:expires</c> time passed or whose owner process on this machine is gone loses its instances
    /// (terminated, waited for) and its security group. <c>coiled-remote ec2 cleanup</c> runs this.
    /// </summary>
    /// <param name="options">Region, credentials and endpoint; the other settings are ignored.</param>
    /// <param name="includeLiveClusters">Remove every Coiled.Remote cluster of the region, even those that look in use.</param>
    /// <param name="logger">Where to log progress; default nowhere.</param>
    /// <param name="cancellationToken">Stops the cleanup; what was already asked of EC2 goes on.</param>
    public static Task<Ec2CleanupReport> CleanupAsync(Ec2Options options, bool includeLiveClusters = false, ILogger? logger = null, CancellationToken cancellationToken = default)
        => new Ec2Sweeper(options, Ec2Tuning.Default, TimeProvider.System, logger ?? NullLogger.Instance).CleanupAsync(includeLiveClusters, cancellationToken);

    /// <summary>Lists the Coiled.Remote clusters of <see cref="Ec2Options.Region"/> with their uptime and cost so far.</summary>
    /// <param name="options">Region, credentials and endpoint; the other settings are ignored.</param>
    /// <param name="cancellationToken">Stops the listing.</param>
    public static Task<IReadOnlyList<Ec2ClusterSummary>> ListClustersAsync(Ec2Options options, CancellationToken cancellationToken = default)
        => new Ec2Sweeper(options, Ec2Tuning.Default, TimeProvider.System, NullLogger.Instance).ListAsync(cancellationToken);
}
