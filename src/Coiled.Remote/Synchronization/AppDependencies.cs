using System.Text.Json;

namespace Coiled.Remote.Synchronization;

/// <summary>
/// What an application's <c>&lt;app&gt;.deps.json</c> and <c>&lt;app&gt;.runtimeconfig.json</c> say about where it can
/// run: the runtime it was built for (<c>-r win-x64</c>; none for a portable build), whether it brings its own .NET
/// runtime (self-contained), and the runtime-specific native libraries its packages bring; and whether its assemblies
/// are files at all, or inside a single-file or native executable.
/// </summary>
internal sealed class AppDependencies
{
    /// <summary>Read as the .NET host reads them, which allows comments.</summary>
    private static readonly JsonDocumentOptions HostJson = new() { CommentHandling = JsonCommentHandling.Skip };

    private AppDependencies(
        string applicationName, string? depsFile, string? targetRuntime, bool selfContained, IReadOnlyList<NativeAsset> nativeAssets, string? singleFileExecutable = null)
    {
        ApplicationName = applicationName;
        DepsFile = depsFile;
        TargetRuntime = targetRuntime;
        SelfContained = selfContained;
        NativeAssets = nativeAssets;
        SingleFileExecutable = singleFileExecutable;
    }

    /// <summary>The application's name: its deps.json's without <c>.deps.json</c>, which is its entry assembly's.</summary>
    public string ApplicationName { get; }

    /// <summary>The deps.json's file name in the output folder; null when the application has none.</summary>
    public string? DepsFile { get; }

    /// <summary>The runtime identifier the application was built for (<c>dotnet build -r</c>); null for a portable build.</summary>
    public string? TargetRuntime { get; }

    /// <summary>Whether the application brings its own .NET runtime and framework assemblies.</summary>
    public bool SelfContained { get; }

    /// <summary>
    /// The per-runtime native libraries of its packages (<c>runtimeTargets</c> of asset type <c>native</c>) whose files
    /// are in the output folder: one the deps.json lists but the folder lacks is no build of the library.
    /// </summary>
    public IReadOnlyList<NativeAsset> NativeAssets { get; }

    /// <summary>
    /// The executable that holds the application's assemblies when it has no deps.json and no <c>&lt;app&gt;.dll</c>
    /// beside it: a build published with <c>PublishSingleFile</c> or <c>PublishAot</c>. Null for an ordinary build.
    /// </summary>
    public string? SingleFileExecutable { get; }

    /// <summary>
    /// Reads the deps.json of the application in <paramref name="root"/>: the one this process was started with when it
    /// is there (its entry assembly may be a host, as under <c>dotnet test</c>), else <paramref name="entryAssembly"/>'s,
    /// else the folder's only one. Without any, nothing is known, and nothing is refused.
    /// </summary>
    /// <exception cref="EnvironmentSyncException">The deps.json or runtimeconfig.json is not valid JSON (comments are, as for the host).</exception>
    public static AppDependencies Read(string root, string entryAssembly)
    {
        var depsFile = FindDepsFile(root, entryAssembly);
        if (depsFile is null)
        {
            return new AppDependencies(entryAssembly, null, null, false, [], SingleFileExecutableOf(root, entryAssembly));
        }

        var name = depsFile[..^".deps.json".Length];
        using var deps = ParseJson(Path.Combine(root, depsFile));
        var target = deps.RootElement.TryGetProperty("runtimeTarget", out var runtimeTarget) && runtimeTarget.ValueKind == JsonValueKind.Object
            && runtimeTarget.TryGetProperty("name", out var targetName) && targetName.ValueKind == JsonValueKind.String
            ? targetName.GetString() ?? string.Empty
            : string.Empty;
        var slash = target.IndexOf('/');
        var targetRuntime = slash >= 0 ? target[(slash + 1)..] : null;
        var selfContained = HasRuntimePack(deps.RootElement) || IncludesFrameworks(Path.Combine(root, name + ".runtimeconfig.json"));
        return new AppDependencies(name, depsFile, targetRuntime, selfContained, NativeAssetsOf(deps.RootElement, target, root));
    }

    /// <summary>Parses one of the application's JSON files as the .NET host would.</summary>
    /// <exception cref="EnvironmentSyncException">It is not valid JSON: the message names it and says what to do.</exception>
    private static JsonDocument ParseJson(string path)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(path), HostJson);
        }
        catch (JsonException ex)
        {
            throw Invalid(path, ex.Message, ex);
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            throw Invalid(path, "it holds no object", null);
        }

        return document;

        static EnvironmentSyncException Invalid(string path, string reason, Exception? inner) => new(
            $"The application's {path} is not valid JSON ({reason}), so where it can run cannot be told. Rebuild the application, then start the cluster again.", inner);
    }

    /// <summary>
    /// <c>&lt;app&gt;</c> or <c>&lt;app&gt;.exe</c> when it is in the folder and <c>&lt;app&gt;.dll</c> is not: a
    /// single-file or native build, whose assemblies no other process can load.
    /// </summary>
    private static string? SingleFileExecutableOf(string root, string entryAssembly)
    {
        if (entryAssembly.Length == 0 || File.Exists(Path.Combine(root, entryAssembly + ".dll")))
        {
            return null;
        }

        return new[] { entryAssembly, entryAssembly + ".exe" }.FirstOrDefault(name => File.Exists(Path.Combine(root, name)));
    }

    private static string? FindDepsFile(string root, string entryAssembly)
    {
        var started = (AppContext.GetData("APP_CONTEXT_DEPS_FILES") as string)?.Split(Path.PathSeparator).FirstOrDefault(f => f.Length > 0);
        string?[] candidates = [started is null ? null : Path.GetFileName(started), entryAssembly + ".deps.json"];
        foreach (var candidate in candidates)
        {
            if (candidate is not null && File.Exists(Path.Combine(root, candidate)))
            {
                return candidate;
            }
        }

        var all = Directory.GetFiles(root, "*.deps.json");
        return all.Length == 1 ? Path.GetFileName(all[0]) : null;
    }

    /// <summary>A self-contained build lists the runtime pack it took the framework from.</summary>
    private static bool HasRuntimePack(JsonElement deps)
        => deps.TryGetProperty("libraries", out var libraries) && libraries.ValueKind == JsonValueKind.Object
            && libraries.EnumerateObject().Any(library => library.Value.ValueKind == JsonValueKind.Object
                && library.Value.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == "runtimepack");

    /// <summary>A self-contained build's runtimeconfig.json lists the frameworks it includes instead of those it needs.</summary>
    private static bool IncludesFrameworks(string runtimeConfig)
    {
        if (!File.Exists(runtimeConfig))
        {
            return false;
        }

        using var config = ParseJson(runtimeConfig);
        return config.RootElement.TryGetProperty("runtimeOptions", out var options) && options.ValueKind == JsonValueKind.Object
            && options.TryGetProperty("includedFrameworks", out _);
    }

    private static List<NativeAsset> NativeAssetsOf(JsonElement deps, string target, string root)
    {
        var assets = new List<NativeAsset>();
        if (!deps.TryGetProperty("targets", out var targets) || targets.ValueKind != JsonValueKind.Object
            || !targets.TryGetProperty(target, out var libraries) || libraries.ValueKind != JsonValueKind.Object)
        {
            return assets;
        }

        foreach (var library in libraries.EnumerateObject())
        {
            if (library.Value.ValueKind != JsonValueKind.Object
                || !library.Value.TryGetProperty("runtimeTargets", out var runtimeTargets) || runtimeTargets.ValueKind != JsonValueKind.Object)
            {
                continue;
            }

            var package = library.Name.Replace('/', ' ');
            foreach (var asset in runtimeTargets.EnumerateObject())
            {
                if (asset.Value.ValueKind == JsonValueKind.Object
                    && asset.Value.TryGetProperty("assetType", out var assetType) && assetType.ValueKind == JsonValueKind.String && assetType.GetString() == "native"
                    && asset.Value.TryGetProperty("rid", out var rid) && rid.ValueKind == JsonValueKind.String && rid.GetString() is { Length: > 0 } identifier
                    && File.Exists(Path.Combine(root, asset.Name)))
                {
                    assets.Add(new NativeAsset(package, asset.Name, identifier));
                }
            }
        }

        return assets;
    }
}
