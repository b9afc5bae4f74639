using System.CommandLine;
using System.Globalization;
using Coiled.Remote.Ec2;
using Coiled.Remote.KeptClusters;

namespace Coiled.Remote.Cli;

/// <summary><c>coiled-remote ls</c> and <c>coiled-remote stop NAME</c>: this machine's named clusters.</summary>
internal static class NamedClusterCommands
{
    public static IEnumerable<Command> Create()
    {
        var cache = new Option<string?>("--cache-dir") { Description = "The workers' cache folder whose named clusters to use. Default: the user's cache folder, as for LocalProcessBackend." };

        var region = new Option<string?>("--region") { Description = "Ask EC2 which instances of this machine's named EC2 clusters run, in this region (e.g. us-east-1). Without it their workers show as unknown." };
        var endpoint = new Option<string?>("--endpoint-url") { Description = "A custom EC2 (and STS) endpoint for named EC2 clusters." };

        var list = new Command("ls", "List this machine's named clusters: workers running, age, idle time and cost so far.") { cache, region, endpoint };
        list.SetAction(async (result, cancellationToken) =>
        {
            try
            {
                var (asked, url) = (result.GetValue(region), result.GetValue(endpoint));
                Func<RegisteredCluster, CancellationToken, Task<int?>>? countRunning = asked is null && url is null ? null : (entry, token) => CountRunningAsync(entry, asked, url, token);
                var clusters = await NamedClusters.ListAsync(NamedClusters.LocalRegistry(result.GetValue(cache)), TimeProvider.System, countRunning, cancellationToken).ConfigureAwait(false);
                Console.WriteLine(clusters.Count == 0 ? "No named clusters." : Format(clusters));
                return 0;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Console.Error.WriteLine($"coiled-remote ls: {ex.Message}");
                return 1;
            }
        });

        var name = new Argument<string>("NAME") { Description = "The cluster's name (ClusterOptions.Name)." };
        var stop = new Command("stop", "Stop a named cluster's workers (local processes, or EC2 instances: terminated), check that they are gone, and forget the name.")
        {
            name, cache, region, endpoint,
        };
        stop.SetAction(async (result, cancellationToken) =>
        {
            var cluster = result.GetValue(name)!;
            var (asked, url) = (result.GetValue(region), result.GetValue(endpoint));
            try
            {
                var stopped = await NamedClusters.StopAsync(
                    NamedClusters.LocalRegistry(result.GetValue(cache)), result.GetValue(cache), cluster,
                    entry => entry.Backend == Ec2Backend.KeptKind ? new Ec2Backend(Ec2OptionsFor(entry, asked, url)) : null,
                    cancellationToken).ConfigureAwait(false);
                Console.WriteLine($"Stopped named cluster {cluster}: {stopped} worker(s) stopped and gone.");
                return 0;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Console.Error.WriteLine($"coiled-remote stop: {ex.Message}");
                return 1;
            }
        });

        return [list, stop];
    }

    /// <summary>The instances of a named EC2 cluster that run, when it is in the region asked about (any, with only an endpoint given); null when unknown.</summary>
    private static async Task<int?> CountRunningAsync(RegisteredCluster entry, string? region, string? endpoint, CancellationToken cancellationToken)
    {
        var registered = entry.Properties.TryGetValue(Ec2Backend.RegionProperty, out var where) ? where : null;
        if (entry.Backend != Ec2Backend.KeptKind || registered is null || (region is not null && region != registered))
        {
            return null;
        }

        try
        {
            return await Ec2Backend.CountRunningAsync(Ec2OptionsFor(entry, registered, endpoint), entry, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Console.Error.WriteLine($"coiled-remote ls: could not ask EC2 about named cluster {entry.Name} in {registered}: {ex.Message}");
            return null;
        }
    }

    /// <summary>Where a named EC2 cluster's instances are: its own region unless one is given, and a custom endpoint if given.</summary>
    private static Ec2Options Ec2OptionsFor(RegisteredCluster entry, string? region, string? endpoint) => new()
    {
        Region = region ?? (entry.Properties.TryGetValue(Ec2Backend.RegionProperty, out var registered) ? registered : null),
        ServiceUrl = endpoint is null ? null : new Uri(endpoint, UriKind.Absolute),
    };

    internal static string Format(IReadOnlyList<NamedClusterStatus> clusters)
    {
        var rows = new List<string[]> { new[] { "NAME", "BACKEND", "WORKERS", "AGE", "IDLE", "STOPS IN", "COST" } };
        rows.AddRange(clusters.Select(c => new[]
        {
            c.Name,
            c.Backend,
            c.Running is not { } running ? $"? of {c.Registered}" : running == c.Registered ? running.ToString(CultureInfo.InvariantCulture) : $"{running} of {c.Registered}",
            CostText.FormatDuration(c.Age),
            c.Idle is { } idle ? CostText.FormatDuration(idle) : c.Running == 0 ? "-" : "in use",
            c.Running == 0 ? "stopped" : c.StopsIn is { } stopsIn ? CostText.FormatDuration(stopsIn) : "-",
            c.Cost is { } cost ? "$" + cost.ToString("0.00##", CultureInfo.InvariantCulture) : "?",
        }));
        var widths = Enumerable.Range(0, rows[0].Length).Select(i => rows.Max(r => r[i].Length)).ToArray();
        return string.Join(Environment.NewLine, rows.Select(r => string.Join("  ", r.Select((cell, i) => cell.PadRight(widths[i]))).TrimEnd()));
    }
}
