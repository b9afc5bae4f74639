using System.Collections.Concurrent;
using System.Reflection;

namespace Coiled.Remote.Stubs;

/// <summary>
/// Finds the generated stub of a [Remote] method from the delegate the caller passed, e.g. <c>Jobs.Square</c>.
/// Each assembly's registry is read once; lookups after that are one dictionary hit.
/// </summary>
internal static class StubCatalog
{
    private static readonly ConcurrentDictionary<MethodInfo, RemoteStub> Stubs = new();
    private static readonly ConcurrentDictionary<Assembly, Lazy<bool>> LoadedAssemblies = new();

    public static RemoteStub Resolve(Delegate method)
    {
        ArgumentNullException.ThrowIfNull(method);
        method = Unwrap(method);
        var info = method.Method;
        if (Stubs.TryGetValue(info, out var stub) && method.Target is null)
        {
            return stub;
        }

        if (method.Target is not null || method.GetInvocationList().Length > 1 || IsCompilerGenerated(info))
        {
            throw new ArgumentException(
                $"A lambda, local function or instance method ({Describe(info)}) cannot run remotely: only static methods marked [Remote] can. " +
                "Move the code into a static method, mark it [Remote], and pass it as a method group, e.g. cluster.MapAsync(Jobs.Square, items).",
                nameof(method));
        }

        // Every caller waits until the assembly's stubs are registered, not only the first (concurrent first calls).
        var assembly = info.Module.Assembly;
        _ = LoadedAssemblies.GetOrAdd(assembly, static a => new Lazy<bool>(() => Register(a))).Value;

        if (Stubs.TryGetValue(info, out stub))
        {
            return stub;
        }

        if (info.GetCustomAttribute<RemoteAttribute>() is null)
        {
            throw new ArgumentException(
                $"{Describe(info)} is not marked [Remote]. Add [Remote] to the method (it must be static) so that Coiled.Remote generates a stub for it.",
                nameof(method));
        }

        throw new ArgumentException(
            $"{Describe(info)} is marked [Remote] but assembly {assembly.GetName().Name} has no generated stub for it. " +
            "Reference the Coiled.Remote package from the project that declares the method so its source generator runs, and fix any CR diagnostics it reports.",
            nameof(method));
    }

    /// <summary>
    /// The delegate <paramref name="method"/> calls when it only calls another: <c>new Func&lt;int, int&gt;(d)</c> and
    /// <c>d.Invoke</c> make a delegate bound to <c>d</c> whose method is <c>d</c>'s <c>Invoke</c>, and run what <c>d</c> holds.
    /// </summary>
    private static Delegate Unwrap(Delegate method)
    {
        while (method.Target is Delegate inner && method.Method.Name == nameof(Action.Invoke) && method.Method.DeclaringType == inner.GetType()
            && method.GetInvocationList().Length == 1)
        {
            method = inner;
        }

        return method;
    }

    private static bool Register(Assembly assembly)
    {
        var attribute = assembly.GetCustomAttribute<RemoteStubRegistryAttribute>();
        if (attribute is null)
        {
            return false;
        }

        var registry = (RemoteStubRegistry)Activator.CreateInstance(attribute.RegistryType)!;
        foreach (var stub in registry.CreateStubs())
        {
            Stubs.TryAdd(stub.Method, stub);
        }

        return true;
    }

    private static bool IsCompilerGenerated(MethodInfo method)
        => method.Name.Contains('<', StringComparison.Ordinal) || (method.DeclaringType?.Name.Contains('<', StringComparison.Ordinal) ?? false);

    private static string Describe(MethodInfo method) => $"{method.DeclaringType?.FullName}.{method.Name}";
}
