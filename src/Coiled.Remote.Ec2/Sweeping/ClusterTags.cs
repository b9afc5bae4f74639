using System.Globalization;
using Amazon.EC2.Model;

namespace Coiled.Remote.Ec2;

/// <summary>The tags that mark everything a cluster creates, so that teardown and cleanup can find it.</summary>
internal static class ClusterTags
{
    public const string Cluster = "coiled-remote:cluster";
    public const string Owner = "coiled-remote:owner";
    public const string Expires = "coiled-remote:expires";

    /// <summary>On a named cluster kept after its client (ClusterOptions.Name with a KeepAlive): its name. The sweep leaves it while its instances run.</summary>
    public const string KeptAs = "coiled-remote:kept-as";

    /// <summary>On a kept cluster: how long its instances wait for a client, e.g. <c>00:10:00</c>.</summary>
    public const string KeepAlive = "coiled-remote:keep-alive";

    public const string Name = "Name";

    public static List<Tag> For(string clusterName, OwnerIdentity owner, DateTimeOffset expires, IReadOnlyDictionary<string, string> extra, string name, KeptName? kept = null)
    {
        var tags = new List<Tag>
        {
            new(Name, name),
            new(Cluster, clusterName),
            new(Owner, owner.ToString()),
            new(Expires, FormatExpiry(expires)),
        };
        if (kept is not null)
        {
            tags.Add(new Tag(KeptAs, kept.Name));
            tags.Add(new Tag(KeepAlive, kept.KeepAlive.ToString("c", CultureInfo.InvariantCulture)));
        }

        foreach (var (key, value) in extra)
        {
            if (key.StartsWith("coiled-remote:", StringComparison.Ordinal) || key == Name)
            {
                throw new ArgumentException($"Ec2Options.Tags may not set '{key}': Coiled.Remote sets it.", nameof(extra));
            }

            tags.Add(new Tag(key, value));
        }

        return tags;
    }

    public static string FormatExpiry(DateTimeOffset expires) => expires.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    public static DateTimeOffset? ParseExpiry(string? text)
        => DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var value) ? value : null;

    public static string? Get(IEnumerable<Tag>? tags, string key) => tags?.FirstOrDefault(t => t.Key == key)?.Value;
}

/// <summary>A named cluster kept after its client: its <c>ClusterOptions.Name</c> and <c>KeepAlive</c>.</summary>
internal sealed record KeptName(string Name, TimeSpan KeepAlive);
