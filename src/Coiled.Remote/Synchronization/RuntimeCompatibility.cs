namespace Coiled.Remote.Synchronization;

/// <summary>
/// Whether an application's build can run on a platform, as the runtime would decide it there: which runtime-specific
/// files it can use, which native libraries it lacks, and which builds cannot run at all.
/// </summary>
internal static class RuntimeCompatibility
{
    /// <summary>Refuses a build the platform's runtime cannot run: one made for another runtime (<c>-r win-x64</c>), or self-contained.</summary>
    /// <exception cref="EnvironmentSyncException">The build cannot run on <paramref name="platform"/>; the message says how to build it.</exception>
    public static void EnsureRunnable(AppDependencies application, RuntimePlatform platform, string root)
    {
        var fix = $"build without -r, or with -r {platform.RuntimeIdentifier}";
        if (application.SelfContained)
        {
            var runtime = application.TargetRuntime ?? "its own runtime";
            throw new EnvironmentSyncException(
                $"The application in {root} was built self-contained for {runtime} ({application.DepsFile} lists the .NET runtime itself): " +
                $"its framework assemblies would shadow the workers' own, which run {platform.RuntimeIdentifier}. " +
                $"To run it on these workers, {fix} --self-contained false, and start the cluster again.");
        }

        if (application.TargetRuntime is { } target && !platform.CanUse(target))
        {
            throw new EnvironmentSyncException(
                $"The application in {root} was built for {target} ({application.DepsFile} names it), so its native libraries and " +
                $"runtime-specific assemblies are for {target}, and the workers run {platform.RuntimeIdentifier}. " +
                $"To run it on these workers, {fix}, and start the cluster again.");
        }
    }

    /// <summary>
    /// The native libraries that the application's packages bring for some runtimes and none the platform can use: calls
    /// into them fail there with <see cref="DllNotFoundException"/>. One entry per library, in name order.
    /// </summary>
    public static IReadOnlyList<MissingNativeLibrary> MissingNativeLibraries(AppDependencies application, RuntimePlatform platform)
        => [.. application.NativeAssets
            .GroupBy(asset => asset.LibraryName, StringComparer.OrdinalIgnoreCase)
            .Where(library => !library.Any(asset => platform.CanUse(asset.RuntimeIdentifier)))
            .OrderBy(library => library.Key, StringComparer.Ordinal)
            .Select(library => new MissingNativeLibrary(
                library.Key,
                [.. library.Select(asset => asset.Package).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)],
                [.. library.Select(asset => asset.RuntimeIdentifier).Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.Ordinal)]))];

    /// <summary>
    /// Whether a file of the output folder (its relative path, '/' or the platform's separator) is a runtime-specific
    /// asset the platform cannot use: anything under <c>runtimes/&lt;rid&gt;/</c> for a runtime identifier it does not
    /// fall back to, such as <c>runtimes/win-x64/native/e_sqlite3.dll</c> for <c>linux-x64</c>.
    /// </summary>
    public static bool IsForOtherRuntime(string relativePath, RuntimePlatform platform)
    {
        var parts = relativePath.Split('/', '\\');
        return parts.Length > 2 && parts[0].Equals("runtimes", StringComparison.OrdinalIgnoreCase) && !platform.CanUse(parts[1]);
    }
}
