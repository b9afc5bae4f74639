using System.Text.RegularExpressions;

namespace Coiled.Remote.Ec2;

/// <summary>Which CPU architecture an instance type has, read from its name.</summary>
internal static partial class InstanceArchitecture
{
    public const string X64 = "x86_64";
    public const string Arm64 = "arm64";

    /// <summary>
    /// Graviton families carry a <c>g</c> among the letters after their generation (<c>c7g</c>, <c>m6gd</c>,
    /// <c>c7gn</c>, <c>t4g</c>, <c>g5g</c>, <c>hpc7g</c>), plus the first generation <c>a1</c>; everything else is x86_64.
    /// </summary>
    public static string Of(string instanceType)
    {
        var family = instanceType.Split('.')[0].ToLowerInvariant();
        if (family == "a1")
        {
            return Arm64;
        }

        var match = FamilyPattern().Match(family);
        return match.Success && match.Groups["suffix"].Value.Contains('g', StringComparison.Ordinal) ? Arm64 : X64;
    }

    [GeneratedRegex("^[a-z]+[0-9]+(?<suffix>[a-z]*)")]
    private static partial Regex FamilyPattern();
}
