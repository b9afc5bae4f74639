namespace Coiled.Remote.Synchronization;

/// <summary>A native library an application's packages bring for some runtimes but not for the workers'.</summary>
/// <param name="Library">The library's name as code asks for it: <c>SkiaSharp</c>, <c>e_sqlite3</c>.</param>
/// <param name="Packages">The packages that bring it, with their versions.</param>
/// <param name="Available">The runtimes they bring it for.</param>
internal sealed record MissingNativeLibrary(string Library, IReadOnlyList<string> Packages, IReadOnlyList<string> Available);
