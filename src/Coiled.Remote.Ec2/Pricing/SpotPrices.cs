using System.Globalization;
using Amazon.EC2;
using Amazon.Runtime;
using Amazon.EC2.Model;

namespace Coiled.Remote.Ec2;

/// <summary>
/// The current spot prices of instance types in zones, each asked of EC2 (DescribeSpotPriceHistory) once for the life
/// of this object: <c>coiled-remote ec2 ls</c> makes one per listing.
/// </summary>
internal sealed class SpotPrices(IAmazonEC2 client, TimeProvider time)
{
    private readonly Dictionary<(string Type, string Zone), (decimal? Hourly, string? Unknown)> _known = [];

    /// <summary>
    /// The spot price per hour of <paramref name="instanceType"/> in <paramref name="zone"/>; else null, with why it is
    /// unknown (EC2's error, or no price in the history).
    /// </summary>
    public async Task<(decimal? Hourly, string? Unknown)> HourlyAsync(string instanceType, string zone, CancellationToken cancellationToken)
    {
        lock (_known)
        {
            if (_known.TryGetValue((instanceType, zone), out var known))
            {
                return known;
            }
        }

        // Two launches at once may both ask: the answers agree.
        var price = await AskAsync(instanceType, zone, cancellationToken).ConfigureAwait(false);
        lock (_known)
        {
            _known[(instanceType, zone)] = price;
        }

        return price;
    }

    private async Task<(decimal? Hourly, string? Unknown)> AskAsync(string instanceType, string zone, CancellationToken cancellationToken)
    {
        try
        {
            // The price history's entry at StartTime=now is the current price.
            var response = await client.DescribeSpotPriceHistoryAsync(new DescribeSpotPriceHistoryRequest
            {
                InstanceTypes = [instanceType],
                ProductDescriptions = ["Linux/UNIX"],
                AvailabilityZone = zone,
                StartTime = time.GetUtcNow().UtcDateTime,
            }, cancellationToken).ConfigureAwait(false);
            var latest = (response.SpotPriceHistory ?? []).OrderByDescending(p => p.Timestamp).FirstOrDefault();
            return latest is not null && decimal.TryParse(latest.Price, NumberStyles.Number, CultureInfo.InvariantCulture, out var hourly)
                ? (hourly, null)
                : (null, "EC2 gave no spot price for it");
        }
        catch (Exception ex) when (ex is AmazonServiceException or AmazonClientException or HttpRequestException)
        {
            // The instances were launched before their price was asked: a price EC2 does not give is no reason to fail.
            return (null, ex.Message);
        }
    }
}
