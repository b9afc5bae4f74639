using System.Net;

namespace Coiled.Remote.Ec2;

/// <summary>This machine's public address as AWS sees it, for the security group's ingress rule.</summary>
internal static class CallerAddress
{
    private static readonly Uri CheckIp = new("https://checkip.amazonaws.com/");

    public static async Task<IPAddress> ResolveAsync(CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(15) };
        string text;
        try
        {
            text = (await http.GetStringAsync(CheckIp, cancellationToken).ConfigureAwait(false)).Trim();
        }
        catch (HttpRequestException ex)
        {
            throw new ClusterStartException(
                $"Could not find this machine's public address at {CheckIp} ({ex.Message}), which the workers' security group admits. " +
                "Set Ec2Options.AllowIngressFrom to the address range (CIDR) this machine connects from.", ex);
        }

        return IPAddress.TryParse(text, out var address)
            ? address
            : throw new ClusterStartException($"{CheckIp} answered '{text}', which is not an IP address. Set Ec2Options.AllowIngressFrom.");
    }

    /// <summary>The single-address CIDR of <paramref name="address"/>: /32 for IPv4, /128 for IPv6.</summary>
    public static string ToCidr(IPAddress address)
        => address.IsIPv4MappedToIPv6 ? $"{address.MapToIPv4()}/32"
            : address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"{address}/128" : $"{address}/32";

    /// <summary>Whether <paramref name="cidr"/> is an IPv6 range.</summary>
    public static bool IsIPv6(string cidr) => cidr.Contains(':', StringComparison.Ordinal);

    public static void Validate(string cidr)
    {
        var slash = cidr.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || !IPAddress.TryParse(cidr.AsSpan(0, slash), out var address)
            || !int.TryParse(cidr.AsSpan(slash + 1), out var bits) || bits < 0
            || bits > (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 128 : 32))
        {
            throw new ArgumentException($"Ec2Options.AllowIngressFrom must be an address range such as 203.0.113.7/32, not '{cidr}'.");
        }
    }
}
