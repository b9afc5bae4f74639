using System.Reflection;
using System.Runtime.Loader;
using Coiled.Remote.Synchronization;

namespace Coiled.Remote.Worker;

/// <summary>
/// A collectible load context over one synchronized environment folder. The caller's assemblies and native libraries
/// resolve as the runtime resolves them for an application: through its deps.json and this machine's runtime
/// identifier graph (<see cref="AssemblyDependencyResolver"/>), then, for what that does not know, from the folder
/// itself, by file name in any case (a build made on Windows or macOS may differ in case from the names code asks
/// for) and from its <c>runtimes/&lt;rid&gt;/native</c> folders. Coiled.Remote and MessagePack resolve to the worker's
/// own copies so that stub and serializer types unify. In a worker's cache, a file written to since it was cached
/// (through another environment's name for the same blob) is refused rather than loaded altered.
/// </summary>
internal sealed class EnvironmentLoadContext : AssemblyLoadContext
{
    private static readonly HashSet<string> SharedAssemblies = new(StringComparer.OrdinalIgnoreCase)
    {
        "Coiled.Remote",
        "MessagePack",
        "MessagePack.Annotations",
    };

    private readonly string _directory;
    private readonly AssemblyDependencyResolver? _resolver;
    private readonly FolderIndex[] _managedFolders;
    private readonly FolderIndex[] _nativeFolders;
    private readonly bool _cached;

    /// <param name="name">The context's name, for diagnostics.</param>
    /// <param name="directory">The environment's folder.</param>
    /// <param name="applicationName">The application's name: its <c>&lt;name&gt;.deps.json</c> in the folder guides resolution.</param>
    /// <param name="cached">
    /// Whether the folder is laid out from a worker's cache, whose files carry <see cref="BlobStore.StoredTime"/> until
    /// something writes to them: any other time refuses the file.
    /// </param>
    public EnvironmentLoadContext(string name, string directory, string applicationName, bool cached = false)
        : base(name, isCollectible: true)
    {
        _directory = directory;
        _cached = cached;
        _resolver = CreateResolver(directory, applicationName);
        var platform = RuntimePlatform.Current;
        _managedFolders =
        [
            new FolderIndex(directory),
            .. platform.Compatible.SelectMany(rid => LibFolders(Path.Combine(directory, "runtimes", rid, "lib"))).Select(folder => new FolderIndex(folder)),
        ];
        _nativeFolders =
        [
            new FolderIndex(directory),
            .. platform.Compatible.Select(rid => new FolderIndex(Path.Combine(directory, "runtimes", rid, "native"))),
        ];
    }

    public string Directory => _directory;

    /// <summary>The file an assembly of the environment loads from; null when the environment has no such assembly.</summary>
    public string? ResolveAssemblyPath(AssemblyName assemblyName)
    {
        if (assemblyName.Name is null)
        {
            return null;
        }

        if (_resolver?.ResolveAssemblyToPath(assemblyName) is { } resolved && File.Exists(resolved))
        {
            return resolved;
        }

        if (!string.IsNullOrEmpty(assemblyName.CultureName))
        {
            // A satellite assembly (App.resources, culture fr) lives in its culture's folder: fr/App.resources.dll.
            return assemblyName.CultureName.IndexOfAny(['/', '\\', '.']) < 0
                ? new FolderIndex(Path.Combine(_directory, assemblyName.CultureName)).Find(assemblyName.Name + ".dll")
                : null;
        }

        return _managedFolders.Select(folder => folder.Find(assemblyName.Name + ".dll")).FirstOrDefault(path => path is not null);
    }

    /// <summary>The file a native library of the environment loads from; null when the environment has no such library.</summary>
    public string? ResolveNativePath(string unmanagedDllName)
    {
        if (_resolver?.ResolveUnmanagedDllToPath(unmanagedDllName) is { } resolved && File.Exists(resolved))
        {
            return resolved;
        }

        // Each name in every folder before the next name, as the runtime probes: libAcme.so under runtimes/ before a
        // file named Acme in the root, which may be the app's own executable.
        return NativeFileNames(unmanagedDllName).SelectMany(name => _nativeFolders.Select(folder => folder.Find(name))).FirstOrDefault(path => path is not null);
    }

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        if (assemblyName.Name is null || SharedAssemblies.Contains(assemblyName.Name))
        {
            return null;
        }

        // Not part of the environment: the shared framework in the default context provides it.
        return ResolveAssemblyPath(assemblyName) is { } path ? LoadFromAssemblyPath(Unaltered(path)) : null;
    }

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
        => ResolveNativePath(unmanagedDllName) is { } path ? LoadUnmanagedDllFromPath(Unaltered(path)) : IntPtr.Zero;

    /// <summary>
    /// <paramref name="path"/>, unless the environment is cached and the file was written to since: a hard link shares
    /// its blob with every environment that has the same bytes, so a task that wrote through its own (as root, or
    /// after making it writable) changed this one too, until the worker lays it out again.
    /// </summary>
    /// <exception cref="AlteredFileException">The file was written to; the message says what to do.</exception>
    private string Unaltered(string path)
    {
        if (_cached && File.GetLastWriteTimeUtc(path) != BlobStore.StoredTime)
        {
            throw new AlteredFileException(path);
        }

        return path;
    }

    /// <summary>
    /// A resolver over the application's deps.json; null where there is none to read or the host cannot resolve one
    /// (a single-file host, a deps.json the host refuses): the folder alone then answers.
    /// </summary>
    private static AssemblyDependencyResolver? CreateResolver(string directory, string applicationName)
    {
        if (applicationName.Length == 0 || !File.Exists(Path.Combine(directory, applicationName + ".deps.json")))
        {
            return null;
        }

        try
        {
            return new AssemblyDependencyResolver(Path.Combine(directory, applicationName + ".dll"));
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>The names a library asked for as <paramref name="name"/> may have on this platform, as the runtime tries them.</summary>
    private static string[] NativeFileNames(string name)
    {
        if (OperatingSystem.IsWindows())
        {
            return name.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".exe", StringComparison.OrdinalIgnoreCase) ? [name] : [name + ".dll", name];
        }

        var suffix = OperatingSystem.IsMacOS() ? ".dylib" : ".so";
        return name.Contains(suffix, StringComparison.Ordinal) ? [name, "lib" + name] : [name + suffix, "lib" + name + suffix, name, "lib" + name];
    }

    private static IEnumerable<string> LibFolders(string libDirectory)
        => System.IO.Directory.Exists(libDirectory)
            ? System.IO.Directory.GetDirectories(libDirectory).OrderDescending(StringComparer.Ordinal)
            : [];
}
