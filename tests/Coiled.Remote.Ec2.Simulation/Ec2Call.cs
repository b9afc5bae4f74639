namespace Coiled.Remote.Ec2.Simulation;

/// <summary>
/// One EC2 Query API call the local endpoint received: its action, its form parameters as sent, and the access key id
/// its Signature Version 4 authorization names (null when unsigned).
/// </summary>
public sealed record Ec2Call(string Action, IReadOnlyDictionary<string, string> Parameters, string? AccessKeyId = null)
{
    public string? this[string key] => Parameters.TryGetValue(key, out var value) ? value : null;

    /// <summary>The values of a query list: <c>Prefix.1</c>, <c>Prefix.2</c>, ... (or <c>Prefix.1.Suffix</c>, ...).</summary>
    public List<string> List(string prefix, string? suffix = null)
    {
        var values = new List<string>();
        for (var i = 1; Parameters.TryGetValue(suffix is null ? $"{prefix}.{i}" : $"{prefix}.{i}.{suffix}", out var value); i++)
        {
            values.Add(value);
        }

        return values;
    }

    /// <summary>Key/value tags of a TagSpecification with the given resource type.</summary>
    public Dictionary<string, string> TagsFor(string resourceType)
    {
        for (var i = 1; Parameters.TryGetValue($"TagSpecification.{i}.ResourceType", out var type); i++)
        {
            if (type == resourceType)
            {
                var tags = new Dictionary<string, string>();
                for (var j = 1; Parameters.TryGetValue($"TagSpecification.{i}.Tag.{j}.Key", out var key); j++)
                {
                    tags[key] = Parameters[$"TagSpecification.{i}.Tag.{j}.Value"];
                }

                return tags;
            }
        }

        return [];
    }

    /// <summary>The filters of a Describe call: name to values.</summary>
    public Dictionary<string, List<string>> Filters()
    {
        var filters = new Dictionary<string, List<string>>();
        for (var i = 1; Parameters.TryGetValue($"Filter.{i}.Name", out var name); i++)
        {
            filters[name] = List($"Filter.{i}.Value");
        }

        return filters;
    }

    public override string ToString() => Action;
}
