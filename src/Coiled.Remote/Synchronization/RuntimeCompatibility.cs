namespace Coiled.Remote.Synchronization;

/// <summary>
/// Whether an application's build can run on a platform, as the runtime would decide it there: which runtime-specific
/// files it can use, which native libraries it lacks, and which builds cannot run at all.
/// </summary>
internal static class RuntimeCompatibility
{
    /// <summary>
    /// Refuses a build the platform's runtime cannot run: one made for another runtime (<c>-r win-x64</c>), a
    /// self-contained one, or one whose assemblies are inside a single-file or native executable.
    /// </summary>
    /// <exception cref="EnvironmentSyncException">The build cannot run on <paramref name="platform"/>; the message says how to build it.</exception>
    public static void EnsureRunnable(AppDependencies application, RuntimePlatform platform, string root)
    {
        if (application.SingleFileExecutable is { } executable)
        {
            throw new EnvironmentSyncException(
                $"The application in {root} has no {application.ApplicationName}.dll: it was published as a single file or ahead of time " +
                $"(PublishSingleFile, PublishAot), so its assemblies are inside {executable}, where the workers cannot load them. " +
                "To run it on workers, publish it without -p:PublishSingleFile=true and -p:PublishAot=true (or run it with dotnet run), and start the cluster again.");
        }

        var fix = $"build without -r, or with -r {platform.RuntimeIdentifier}";
        if (application.SelfContained)
        {
            var runtime = application.TargetRuntime ?? "its own runtime";
            throw new EnvironmentSyncException(
                $"The application in {root} was built self-contained for {runtime} ({application.DepsFile} lists the .NET runtime itself): " +
                $"its framework assemblies would shadow the workers' own, which run {platform.RuntimeIdentifier}. " +
                $"To run it on these workers, {fix} --self-contained false (and without PublishTrimmed, which needs self-contained), and start the cluster again.");
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
    /// into them fail there with <see cref="DllNotFoundException"/>. One entry per library, in name order. Not counted:
    /// builds for browsers and phones (<c>browser-wasm</c>, <c>ios</c>, <c>android</c>), where no worker runs, and static
    /// libraries (<c>.a</c>, <c>.lib</c>), which nothing loads; nor a library built for one other operating system only,
    /// such as SqlClient's Windows network interface: that is the operating system's own code, which a portable
    /// library calls only there.
    /// </summary>
    public static IReadOnlyList<MissingNativeLibrary> MissingNativeLibraries(AppDependencies application, RuntimePlatform platform)
        => [.. application.NativeAssets
            .Where(asset => asset.IsLoadable && RuntimePlatform.CanRunWorkers(asset.RuntimeIdentifier))
            .GroupBy(asset => asset.LibraryName, StringComparer.OrdinalIgnoreCase)
            .Where(library => !library.Any(asset => platform.CanUse(asset.RuntimeIdentifier)))
            .Where(library => library.Select(asset => RuntimePlatform.OperatingSystemOf(asset.RuntimeIdentifier)).Distinct(StringComparer.OrdinalIgnoreCase) is var systems
                && (systems.Count() > 1 || systems.Any(platform.RunsOn)))
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
