using System.Runtime.CompilerServices;
using Amazon.EC2;
using Coiled.Remote.Security;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Ec2;

/// <summary>
/// Launches more instances into a running cluster (a replacement for a lost or interrupted worker): into its security
/// group and its zone where EC2 has room, booting with boot secrets and a certificate of their own, and powering off
/// when the cluster's <see cref="Ec2Options.MaxLifetime"/> ends. Instances whose worker does not come are terminated
/// before the failure is thrown; those that came run on.
/// </summary>
internal sealed class WorkerTopUp(
    IAmazonEC2 client, Ec2Options options, string clusterName, InstanceLauncher launcher, InstanceLauncher.Placement placement,
    ClusterStaging staging, IReadOnlyDictionary<string, string>? variables, Ec2Tuning tuning, TimeProvider time, ILogger logger,
    Func<IReadOnlyList<string>, int, int, Task> terminateLate)
{
    /// <summary>Less of the cluster's lifetime left than this, and no instance is launched: it would power off soon after it booted.</summary>
    internal static readonly TimeSpan MinimumLifetimeLeft = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Launches <see cref="WorkerLaunch.Count"/> instances and yields each one's id and worker as it accepts connections;
    /// fewer than <see cref="WorkerLaunch.MinimumCount"/> launched or booted end it with a <see cref="ClusterStartException"/>.
    /// </summary>
    public async IAsyncEnumerable<(string InstanceId, WorkerEndpoint Endpoint)> LaunchAsync(WorkerLaunch launch, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var expires = launcher.Expires ?? throw new InvalidOperationException("The cluster's first launch comes first.");
        var lifetime = expires - time.GetUtcNow();
        if (lifetime < MinimumLifetimeLeft)
        {
            throw new ClusterStartException(
                $"Cluster {clusterName} reaches the end of its Ec2Options.MaxLifetime in {Math.Max(0, lifetime.TotalMinutes):0} min ({expires:u}), " +
                $"when its instances power themselves off, so no instance was launched for {launch.Count} more worker(s). " +
                "Start a new cluster for more work, or a longer Ec2Options.MaxLifetime next time.");
        }

        using var certificate = ClusterCertificate.Create(clusterName, lifetime + TimeSpan.FromDays(1));
        var (script, secrets) = await staging.BootScriptAsync(launch, certificate, lifetime, cancellationToken).ConfigureAwait(false);
        var launched = new LaunchedIds();
        var came = new HashSet<string>(StringComparer.Ordinal);
        using var hunting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task<(int Launched, string? Shortfall)> remaining = Task.FromResult<(int, string?)>((0, null));
        try
        {
            (_, remaining) = await launcher.LaunchMoreAsync(placement, launch.Count, launch.MinimumCount, script, launched.Add, hunting.Token).ConfigureAwait(false);
            var booting = new BootWatcher(client, clusterName, options.WorkerPort, tuning, time, logger, options.PrivateAddresses)
                .WatchAsync(launched.Snapshot, remaining, launch.MinimumCount, cancellationToken);
            await foreach (var (id, address) in booting.ConfigureAwait(false))
            {
                came.Add(id);
                yield return (id, new WorkerEndpoint(address) { CertificateThumbprint = certificate.Thumbprint, EnvironmentVariables = variables });
            }

            if ((await remaining.ConfigureAwait(false)).Shortfall is { } shortfall)
            {
                throw new ClusterStartException(shortfall);
            }
        }
        finally
        {
            await hunting.CancelAsync().ConfigureAwait(false);
            try
            {
                await remaining.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Cancelled, or failed: what it launched is in the list below and in the cluster's resources.
            }

            await secrets.DeleteAsync("the added instances' boot ended").ConfigureAwait(false);
            List<string> late = [.. launched.Snapshot().Where(id => !came.Contains(id))];

            // Instances whose worker did not come must not run up a bill; disposal terminates them too, should this fail.
            await terminateLate(late, came.Count, launch.Count).ConfigureAwait(false);
        }
    }
}
