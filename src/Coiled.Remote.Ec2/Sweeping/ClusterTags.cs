using System.Globalization;
using Amazon.EC2.Model;

namespace Coiled.Remote.Ec2;

/// <summary>The tags that mark everything a cluster creates, so that teardown and cleanup can find it.</summary>
internal static class ClusterTags
{
    public const string Cluster = "coiled-remote:cluster";
    public const string Owner = "coiled-remote:owner";
    public const string Expires = "coiled-remote:expires";
    public const string Name = "Name";

    public static List<Tag> For(string clusterName, OwnerIdentity owner, DateTimeOffset expires, IReadOnlyDictionary<string, string> extra, string name)
    {
        var tags = new List<Tag>
        {
            new(Name, name),
            new(Cluster, clusterName),
            new(Owner, owner.ToString()),
            new(Expires, FormatExpiry(expires)),
        };
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
