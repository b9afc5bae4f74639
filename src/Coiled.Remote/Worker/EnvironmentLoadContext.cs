using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;

namespace Coiled.Remote.Worker;

/// <summary>
/// A collectible load context over one synchronized environment folder. The caller's assemblies load from the
/// folder; Coiled.Remote and MessagePack resolve to the worker's own copies so that stub and serializer types unify.
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
    private readonly string[] _managedProbes;
    private readonly string[] _nativeProbes;

    public EnvironmentLoadContext(string name, string directory)
        : base(name, isCollectible: true)
    {
        _directory = directory;
        var rid = "linux-" + RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
        _managedProbes = [directory, .. LibFolders(Path.Combine(directory, "runtimes", rid, "lib")), .. LibFolders(Path.Combine(directory, "runtimes", "unix", "lib"))];
        _nativeProbes = [directory, Path.Combine(directory, "runtimes", rid, "native"), Path.Combine(directory, "runtimes", "linux", "native"), Path.Combine(directory, "runtimes", "unix", "native")];
    }

    public string Directory => _directory;

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        if (assemblyName.Name is null || SharedAssemblies.Contains(assemblyName.Name))
        {
            return null;
        }

        foreach (var folder in _managedProbes)
        {
            var path = Path.Combine(folder, assemblyName.Name + ".dll");
            if (File.Exists(path))
            {
                return LoadFromAssemblyPath(path);
            }
        }

        // Not part of the environment: the shared framework in the default context provides it.
        return null;
    }

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
    {
        string[] candidates = unmanagedDllName.Contains(".so", StringComparison.Ordinal)
            ? [unmanagedDllName]
            : [unmanagedDllName, unmanagedDllName + ".so", "lib" + unmanagedDllName + ".so"];
        foreach (var folder in _nativeProbes)
        {
            foreach (var candidate in candidates)
            {
                var path = Path.Combine(folder, candidate);
                if (File.Exists(path))
                {
                    return LoadUnmanagedDllFromPath(path);
                }
            }
        }

        return IntPtr.Zero;
    }

    private static IEnumerable<string> LibFolders(string libDirectory)
        => System.IO.Directory.Exists(libDirectory)
            ? System.IO.Directory.GetDirectories(libDirectory).OrderDescending(StringComparer.Ordinal)
            : [];
}
