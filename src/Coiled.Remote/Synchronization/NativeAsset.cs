namespace Coiled.Remote.Synchronization;

/// <summary>A runtime-specific native library an application's deps.json lists: <c>runtimes/linux-x64/native/libSkiaSharp.so</c>.</summary>
/// <param name="Package">The package that brings it, with its version: <c>SkiaSharp.NativeAssets.Linux 3.119.0</c>.</param>
/// <param name="Path">Its path in the output folder, with '/' separators.</param>
/// <param name="RuntimeIdentifier">The runtime it is built for: <c>linux-x64</c>, <c>osx</c>, <c>win-arm64</c>.</param>
internal sealed record NativeAsset(string Package, string Path, string RuntimeIdentifier)
{
    /// <summary>Whether a process can load it: not a static or import library (<c>e_sqlite3.a</c>, <c>acme.lib</c>), which only a native build links.</summary>
    public bool IsLoadable => !Path.EndsWith(".a", StringComparison.OrdinalIgnoreCase) && !Path.EndsWith(".lib", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The library's name as code asks for it, whatever the platform's prefix and suffix: <c>SkiaSharp</c> for
    /// <c>libSkiaSharp.so</c>, <c>libSkiaSharp.dylib</c> and <c>libSkiaSharp.dll</c>, <c>e_sqlite3</c> for
    /// <c>libe_sqlite3.so</c> and <c>e_sqlite3.dll</c>.
    /// </summary>
    public string LibraryName
    {
        get
        {
            var name = Path[(Path.LastIndexOf('/') + 1)..];
            var suffix = name.IndexOf(".so", StringComparison.OrdinalIgnoreCase) is var so and > 0 && (so + 3 == name.Length || name[so + 3] == '.')
                ? so
                : name.EndsWith(".dylib", StringComparison.OrdinalIgnoreCase) ? name.Length - 6
                : name.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? name.Length - 4
                : name.Length;
            name = name[..suffix];
            return name.StartsWith("lib", StringComparison.Ordinal) && name.Length > 3 ? name[3..] : name;
        }
    }
}
