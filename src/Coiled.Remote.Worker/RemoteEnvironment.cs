using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.Loader;
using Coiled.Remote.Stubs;

namespace Coiled.Remote.Worker;

/// <summary>
/// The code a worker runs tasks with: a synchronized copy of the caller's application in its own load context,
/// or, for in-process workers, the worker's own process.
/// </summary>
internal sealed class RemoteEnvironment
{
    private readonly ConcurrentDictionary<string, Lazy<IReadOnlyDictionary<string, RemoteStub>>> _registries = new(StringComparer.Ordinal);

    private RemoteEnvironment(string id, AssemblyLoadContext context, string? directory)
    {
        Id = id;
        Context = context;
        Directory = directory;
    }

    public string Id { get; }

    public AssemblyLoadContext Context { get; }

    /// <summary>The environment's folder; null for the host process's own environment.</summary>
    public string? Directory { get; }

    public static RemoteEnvironment ForHost() => new(string.Empty, AssemblyLoadContext.Default, null);

    /// <summary>The host process's own environment, whose assembly of <paramref name="stub"/> has that stub alone: a spare's warm-up runs it.</summary>
    internal static RemoteEnvironment ForHost(RemoteStub stub)
    {
        var environment = ForHost();
        var stubs = new Dictionary<string, RemoteStub>(StringComparer.Ordinal) { [stub.Id] = stub };
        environment._registries[stub.AssemblyName] = new Lazy<IReadOnlyDictionary<string, RemoteStub>>(stubs);
        return environment;
    }

    /// <summary>A synchronized environment of the worker's cache in its own load context, resolving through <paramref name="applicationName"/>'s deps.json.</summary>
    public static RemoteEnvironment ForFolder(string id, string directory, string applicationName)
        => new(id, new EnvironmentLoadContext($"coiled-remote:{id[..12]}", directory, applicationName, cached: true), directory);

    /// <summary>Finds a [Remote] stub, loading its assembly on first use.</summary>
    /// <exception cref="RemoteMethodNotFoundException">The environment has no such assembly or method.</exception>
    public RemoteStub FindStub(string assemblyName, string stubId)
    {
        if (!IsSimpleName(assemblyName))
        {
            // The name becomes a file name in the environment's folder; anything else could reach outside it.
            throw new RemoteMethodNotFoundException(
                $"'{assemblyName}' is not a simple assembly name (like 'MyApp' or 'MyApp.Jobs'): no path, no version, no culture.");
        }

        var stubs = Registry(assemblyName);
        if (stubs.TryGetValue(stubId, out var stub))
        {
            return stub;
        }

        throw new RemoteMethodNotFoundException(
            $"Assembly {assemblyName} on this worker has no [Remote] method {stubId}. " +
            "The worker's copy of the application differs from the caller's: restart the cluster after rebuilding.");
    }

    /// <summary>
    /// Loads the [Remote] methods of an assembly of the environment ahead of the first task that needs them, if it has
    /// that assembly and the assembly has any; does nothing otherwise.
    /// </summary>
    public void Preload(string assemblyName)
    {
        if (!IsSimpleName(assemblyName) || Context is not EnvironmentLoadContext context || context.ResolveAssemblyPath(new AssemblyName(assemblyName)) is null)
        {
            return;
        }

        try
        {
            Registry(assemblyName);
        }
        catch (RemoteMethodNotFoundException)
        {
            // Not an assembly with [Remote] methods: the first task finds its own.
        }
    }

    /// <summary>
    /// The [Remote] stubs of an assembly, loaded once: a task that comes while <see cref="Preload"/> loads them waits for
    /// that load instead of making its own beside it. A load that failed is forgotten, so that the next asks again.
    /// </summary>
    private IReadOnlyDictionary<string, RemoteStub> Registry(string assemblyName)
    {
        var lazy = _registries.GetOrAdd(assemblyName, name => new Lazy<IReadOnlyDictionary<string, RemoteStub>>(() => LoadRegistry(name)));
        try
        {
            return lazy.Value;
        }
        catch
        {
            _registries.TryRemove(new KeyValuePair<string, Lazy<IReadOnlyDictionary<string, RemoteStub>>>(assemblyName, lazy));
            throw;
        }
    }

    private IReadOnlyDictionary<string, RemoteStub> LoadRegistry(string assemblyName)
    {
        Assembly assembly;
        try
        {
            assembly = Context.LoadFromAssemblyName(new AssemblyName(assemblyName));
        }
        catch (Exception ex) when (ex is FileNotFoundException or FileLoadException or BadImageFormatException or ArgumentException)
        {
            throw new RemoteMethodNotFoundException(
                $"Assembly {assemblyName} could not be loaded in environment {DescribeId()}: {AlteredFileException.Cause(ex).Message}", ex);
        }

        var attribute = assembly.GetCustomAttribute<RemoteStubRegistryAttribute>()
            ?? throw new RemoteMethodNotFoundException(
                $"Assembly {assemblyName} has no generated [Remote] stubs: the Coiled.Remote source generator did not run for it.");
        var registry = (RemoteStubRegistry)Activator.CreateInstance(attribute.RegistryType)!;
        return registry.CreateStubs().ToDictionary(s => s.Id, StringComparer.Ordinal);
    }

    private static bool IsSimpleName(string name)
        => name.Length is > 0 and <= 1024
            && name is not "." and not ".."
            && name.IndexOfAny(['/', '\\', ':', ',', '=', '\0']) < 0
            && name.IndexOfAny(Path.GetInvalidFileNameChars()) < 0;

    private string DescribeId() => Id.Length == 0 ? "(host process)" : Id[..12];
}
