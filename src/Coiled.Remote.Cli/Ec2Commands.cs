using System.CommandLine;
using System.Globalization;
using Coiled.Remote.Ec2;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Cli;

/// <summary><c>coiled-remote ec2 ls</c> and <c>coiled-remote ec2 cleanup</c>.</summary>
internal static class Ec2Commands
{
    public static Command Create()
    {
        var region = new Option<string?>("--region") { Description = "AWS region, e.g. us-east-1. Default: AWS_REGION or the profile's region." };
        var endpoint = new Option<string?>("--endpoint-url") { Description = "A custom EC2 (and STS) endpoint, e.g. https://ec2.us-east-1.amazonaws.com." };
        var s3Endpoint = new Option<string?>("--s3-endpoint-url") { Description = "A custom S3 endpoint for the staging bucket." };

        var list = new Command("ls", "List Coiled.Remote clusters of a region with their instances, uptime and cost so far, and the staging bucket.") { region, endpoint, s3Endpoint };
        list.SetAction((result, cancellationToken) => ListAsync(Options(result, region, endpoint, s3Endpoint), cancellationToken));

        var all = new Option<bool>("--all") { Description = "Also remove clusters that look in use (owner alive or on another machine, not expired), then the staging bucket." };
        var cleanup = new Command("cleanup", "Terminate the instances and delete the security groups of clusters whose lifetime ended or whose caller on this machine is gone.")
        {
            region, endpoint, s3Endpoint, all,
        };
        cleanup.SetAction((result, cancellationToken) => CleanupAsync(Options(result, region, endpoint, s3Endpoint), result.GetValue(all), cancellationToken));

        return new Command("ec2", "Coiled.Remote clusters on EC2.") { list, cleanup };
    }

    private static Ec2Options Options(ParseResult result, Option<string?> region, Option<string?> endpoint, Option<string?> s3Endpoint) => new()
    {
        Region = result.GetValue(region),
        ServiceUrl = result.GetValue(endpoint) is { } url ? new Uri(url, UriKind.Absolute) : null,
        S3ServiceUrl = result.GetValue(s3Endpoint) is { } s3Url ? new Uri(s3Url, UriKind.Absolute) : null,
    };

    private static async Task<int> ListAsync(Ec2Options options, CancellationToken cancellationToken)
    {
        IReadOnlyList<Ec2ClusterSummary> clusters;
        Ec2StagingSummary? staging;
        try
        {
            clusters = await Ec2Backend.ListClustersAsync(options, cancellationToken).ConfigureAwait(false);
            staging = await Ec2Backend.GetStagingBucketAsync(options, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ClusterStartException or Amazon.Runtime.AmazonServiceException or Amazon.Runtime.AmazonClientException)
        {
            Console.Error.WriteLine($"coiled-remote ec2 ls: {ex.Message}");
            return 1;
        }

        Console.WriteLine(clusters.Count == 0 ? "No Coiled.Remote clusters." : Format(clusters));
        Console.WriteLine(staging is null
            ? "No staging bucket."
            : $"Staging bucket {staging.Bucket}: {Describe(staging)}; each object expires a day after it was written (cleanup --all removes it).");
        return 0;
    }

    private static async Task<int> CleanupAsync(Ec2Options options, bool all, CancellationToken cancellationToken)
    {
        using var loggerFactory = LoggerFactory.Create(logging => logging.AddSimpleConsole(c => c.SingleLine = true).SetMinimumLevel(LogLevel.Information));
        Ec2CleanupReport report;
        try
        {
            report = await Ec2Backend.CleanupAsync(options, all, loggerFactory.CreateLogger("coiled-remote"), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ClusterStartException or Amazon.Runtime.AmazonServiceException or Amazon.Runtime.AmazonClientException)
        {
            Console.Error.WriteLine($"coiled-remote ec2 cleanup: {ex.Message}");
            return 1;
        }

        Console.WriteLine(
            $"Removed {report.Removed.Count} cluster(s): {report.Removed.Sum(c => c.InstanceIds.Count)} instance(s) terminated, " +
            $"{report.Removed.Sum(c => c.SecurityGroupIds.Count)} security group(s) deleted.");
        if (report.Kept.Count > 0)
        {
            Console.WriteLine($"Kept {report.Kept.Count} cluster(s) that look in use (use --all to remove them too):");
            Console.WriteLine(Format(report.Kept));
        }

        if (report.StagingBucketRemoved is { } removed)
        {
            Console.WriteLine($"Removed the staging bucket {removed.Bucket} ({Describe(removed)}).");
        }

        return 0;
    }

    private static string Describe(Ec2StagingSummary staging)
        => string.Create(CultureInfo.InvariantCulture, $"{staging.Objects} object(s), {staging.Bytes / 1e6:0.0} MB");

    internal static string Format(IReadOnlyList<Ec2ClusterSummary> clusters)
    {
        var rows = new List<string[]> { new[] { "CLUSTER", "OWNER", "INSTANCES", "TYPE", "UPTIME", "COST", "EXPIRES", "STATUS" } };
        rows.AddRange(clusters.Select(c => new[]
        {
            c.Name,
            c.Owner ?? "?",
            c.InstanceIds.Count.ToString(CultureInfo.InvariantCulture),
            c.InstanceTypes.Count == 0 ? "-" : string.Join(",", c.InstanceTypes),
            c.LaunchedAt is null ? "-" : CostText.FormatDuration(c.Uptime),
            c.Cost is { } cost ? CostText.Dollars(cost) : "?",
            c.Expires?.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) + "Z",
            c.StaleReason is null ? "in use" : "stale: " + c.StaleReason,
        }));
        var widths = Enumerable.Range(0, rows[0].Length).Select(i => rows.Max(r => r[i].Length)).ToArray();
        var table = rows.Select(r => string.Join("  ", r.Select((cell, i) => cell.PadRight(widths[i]))).TrimEnd());
        var notes = clusters.Where(c => c.CostNote is not null).Select(c => $"Cost of {c.Name}: {c.CostNote}.");
        return string.Join(Environment.NewLine, table.Concat(notes));
    }
}
