using System.Runtime.InteropServices;
using Coiled.Remote.Transport.Protocol;

namespace Coiled.Remote.Synchronization;

/// <summary>
/// A platform as .NET names it for runtime-specific assets: a portable runtime identifier (<c>linux-x64</c>,
/// <c>linux-musl-arm64</c>, <c>win-x64</c>, <c>osx-arm64</c>) and, in order of preference, every identifier whose assets
/// it can use (<c>linux-x64</c>, <c>linux</c>, <c>unix-x64</c>, <c>unix</c>, <c>any</c>), as the portable runtime
/// identifier graph of .NET 8 and later says.
/// </summary>
internal sealed class RuntimePlatform
{
    /// <summary>The operating systems of the portable graph and the ones each falls back to, most specific first.</summary>
    private static readonly Dictionary<string, string[]> OperatingSystems = new(StringComparer.Ordinal)
    {
        ["linux-musl"] = ["linux"],
        ["linux-bionic"] = ["linux"],
        ["linux"] = ["unix"],
        ["osx"] = ["unix"],
        ["freebsd"] = ["unix"],
        ["unix"] = [],
        ["win"] = [],
    };

    /// <summary>The operating systems of runtime identifiers for browsers and phones, where no worker runs.</summary>
    private static readonly HashSet<string> AppOnlySystems = new(StringComparer.OrdinalIgnoreCase)
    {
        "browser", "wasi", "ios", "iossimulator", "tvos", "tvossimulator", "maccatalyst", "android",
    };

    private RuntimePlatform(string operatingSystem, string architecture)
    {
        OperatingSystem = operatingSystem;
        Architecture = architecture;
        RuntimeIdentifier = $"{operatingSystem}-{architecture}";
        Compatible = Expand(operatingSystem, architecture);
    }

    /// <summary>The platform this process runs on.</summary>
    public static RuntimePlatform Current { get; } = new(CurrentOperatingSystem(), RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant());

    /// <summary>The operating system part of the identifier: <c>linux</c>, <c>linux-musl</c>, <c>win</c>, <c>osx</c>, ...</summary>
    public string OperatingSystem { get; }

    /// <summary>The architecture part: <c>x64</c>, <c>arm64</c>, ...</summary>
    public string Architecture { get; }

    /// <summary>The identifier itself, e.g. <c>linux-x64</c>.</summary>
    public string RuntimeIdentifier { get; }

    /// <summary>Every identifier whose assets this platform can use, itself first and <c>any</c> last.</summary>
    public IReadOnlyList<string> Compatible { get; }

    /// <summary>The platform of a portable runtime identifier such as <c>linux-arm64</c>.</summary>
    /// <exception cref="ArgumentException">The identifier has no architecture part.</exception>
    public static RuntimePlatform Parse(string runtimeIdentifier)
    {
        var dash = runtimeIdentifier.LastIndexOf('-');
        if (dash <= 0 || dash == runtimeIdentifier.Length - 1)
        {
            throw new ArgumentException($"'{runtimeIdentifier}' is not a runtime identifier of the form os-architecture (linux-x64).", nameof(runtimeIdentifier));
        }

        return new RuntimePlatform(runtimeIdentifier[..dash].ToLowerInvariant(), runtimeIdentifier[(dash + 1)..].ToLowerInvariant());
    }

    /// <summary>The platform a worker described in its hello; inferred from its OS description where it did not name it.</summary>
    public static RuntimePlatform Of(HelloReply hello)
    {
        if (hello.RuntimeIdentifier.Length > 0)
        {
            return Parse(hello.RuntimeIdentifier);
        }

        var description = hello.OsDescription;
        var os = description.Contains("Windows", StringComparison.OrdinalIgnoreCase) ? "win"
            : description.Contains("Darwin", StringComparison.OrdinalIgnoreCase) || description.Contains("macOS", StringComparison.OrdinalIgnoreCase) ? "osx"
            : "linux";
        return new RuntimePlatform(os, hello.Architecture.Length > 0 ? hello.Architecture.ToLowerInvariant() : "x64");
    }

    /// <summary>Whether assets for <paramref name="runtimeIdentifier"/> (a <c>runtimes/&lt;rid&gt;</c> folder, a build's target) run here.</summary>
    public bool CanUse(string runtimeIdentifier) => Compatible.Contains(runtimeIdentifier, StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Whether this platform is of <paramref name="operatingSystem"/> (as <see cref="OperatingSystemOf"/> gives it):
    /// <c>linux</c> and <c>unix</c> for linux-arm64, <c>win</c> for win-x64.
    /// </summary>
    public bool RunsOn(string operatingSystem) => Compatible.Any(rid => OperatingSystemOf(rid).Equals(operatingSystem, StringComparison.OrdinalIgnoreCase));

    /// <summary>The operating system of a runtime identifier, without its variant or architecture: <c>linux</c> for linux-musl-x64, <c>osx</c> for osx.</summary>
    public static string OperatingSystemOf(string runtimeIdentifier)
    {
        var dash = runtimeIdentifier.IndexOf('-');
        return (dash < 0 ? runtimeIdentifier : runtimeIdentifier[..dash]).ToLowerInvariant();
    }

    /// <summary>Whether a worker can run on a platform of <paramref name="runtimeIdentifier"/>: not on a browser's or a phone's (<c>browser-wasm</c>, <c>ios-arm64</c>).</summary>
    public static bool CanRunWorkers(string runtimeIdentifier) => !AppOnlySystems.Contains(OperatingSystemOf(runtimeIdentifier));

    /// <inheritdoc/>
    public override string ToString() => RuntimeIdentifier;

    private static string CurrentOperatingSystem()
    {
        if (System.OperatingSystem.IsWindows())
        {
            return "win";
        }

        if (System.OperatingSystem.IsMacOS())
        {
            return "osx";
        }

        if (System.OperatingSystem.IsFreeBSD())
        {
            return "freebsd";
        }

        if (!System.OperatingSystem.IsLinux())
        {
            return "unix";
        }

        return RuntimeInformation.RuntimeIdentifier.StartsWith("linux-musl", StringComparison.Ordinal) ? "linux-musl"
            : RuntimeInformation.RuntimeIdentifier.StartsWith("linux-bionic", StringComparison.Ordinal) ? "linux-bionic"
            : "linux";
    }

    /// <summary>
    /// Breadth first through the graph, as NuGet expands it: <c>linux-musl-x64</c> gives linux-musl-x64, linux-musl,
    /// linux-x64, linux, unix-x64, unix, any.
    /// </summary>
    private static string[] Expand(string operatingSystem, string architecture)
    {
        var result = new List<string>();
        var level = new List<string> { operatingSystem };
        while (level.Count > 0)
        {
            foreach (var os in level)
            {
                Add($"{os}-{architecture}");
            }

            foreach (var os in level)
            {
                Add(os);
            }

            level = [.. level.SelectMany(os => OperatingSystems.TryGetValue(os, out var parents) ? parents : []).Distinct()];
        }

        Add("any");
        return [.. result];

        void Add(string identifier)
        {
            if (!result.Contains(identifier, StringComparer.Ordinal))
            {
                result.Add(identifier);
            }
        }
    }
}
