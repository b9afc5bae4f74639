using System.Collections;
using System.Net;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coiled.Remote.Tests.Support;

/// <summary>
/// Finds the types that hold a secret (a string or byte[] property or field whose name has Token, Key, Secret, Password,
/// Credential or Pfx in it, or a member of such a type), builds each with a known secret in every such member, and says
/// which print it from <c>ToString</c> and which it could not build. Types whose <c>ToString</c> is the framework's own
/// (<see cref="object"/>, <see cref="ValueType"/>, <see cref="Exception"/>) print no member and are not built.
/// </summary>
internal static partial class SecretScan
{
    /// <summary>Members whose names look like secrets but that hold none, as <c>Namespace.Type.Member</c>.</summary>
    public static readonly IReadOnlySet<string> NotSecrets = new HashSet<string>(StringComparer.Ordinal)
    {
        "Coiled.Remote.Ec2.Ec2Options.KeyName", // the name of an EC2 key pair, which AWS shows to anyone who may list them
        "Coiled.Remote.Worker.WorkerCommandLine.TokenFile", // the path of the file that holds the token
    };

    /// <summary>The secret every secret member is given; byte[] members get its UTF-8 bytes.</summary>
    public const string Secret = "s3cr3t-token";

    private const BindingFlags Instance = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;

    private const int MaxDepth = 4;

    /// <summary>The Coiled.Remote assemblies next to the tests (libraries, worker, command), not the tests themselves.</summary>
    public static IReadOnlyList<Assembly> ProductAssemblies()
        => Directory.EnumerateFiles(AppContext.BaseDirectory, "*.dll")
            .Select(Path.GetFileNameWithoutExtension)
            .Where(name => name!.StartsWith("Coiled.Remote", StringComparison.Ordinal) || name.StartsWith("coiled-remote", StringComparison.Ordinal))
            .Where(name => !name!.Contains("test", StringComparison.OrdinalIgnoreCase) && !name.Contains("Benchmarks", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(name => Assembly.Load(new AssemblyName(name!)))
            .ToList();

    /// <summary>The types of <paramref name="assemblies"/> that hold a secret, compiler-generated ones aside.</summary>
    public static IReadOnlyList<Type> TypesHoldingSecrets(IEnumerable<Assembly> assemblies)
    {
        var holding = new Dictionary<Type, bool>();
        return assemblies
            .SelectMany(LoadableTypes)
            .Where(t => !t.IsInterface && !t.IsGenericTypeDefinition && !IsCompilerGenerated(t))
            .Where(t => HoldsSecret(t, holding))
            .OrderBy(t => t.FullName, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>What is wrong with each type of <paramref name="assemblies"/> that holds a secret: empty when none prints one.</summary>
    public static IReadOnlyList<string> Problems(IEnumerable<Assembly> assemblies)
        => [.. TypesHoldingSecrets(assemblies).Select(Problem).OfType<string>()];

    /// <summary>Null when <paramref name="type"/> prints no secret; otherwise what is wrong, for the test's message.</summary>
    public static string? Problem(Type type)
    {
        if (IsFrameworkToString(type))
        {
            return null;
        }

        object? instance;
        try
        {
            instance = Build(type, 0, new HashSet<Type>());
        }
        catch (Exception ex)
        {
            return $"{type.FullName}: could not be built to check its ToString ({ex.GetType().Name}: {ex.Message})";
        }

        if (instance is null)
        {
            return $"{type.FullName}: could not be built to check its ToString (no usable constructor)";
        }

        string? printed;
        try
        {
            printed = instance.ToString();
        }
        catch (Exception ex)
        {
            return $"{type.FullName}: ToString threw on a built instance ({ex.GetType().Name}: {ex.Message})";
        }

        printed ??= string.Empty;
        var secretBytes = Encoding.UTF8.GetBytes(Secret);
        var leaks = new[] { Secret, Convert.ToBase64String(secretBytes), Convert.ToHexString(secretBytes), Convert.ToHexStringLower(secretBytes) }
            .Where(form => printed.Contains(form, StringComparison.Ordinal))
            .ToList();
        return leaks.Count == 0 ? null : $"{type.FullName}: ToString prints the secret: {printed}";
    }

    private static IEnumerable<Type> LoadableTypes(Assembly assembly)
    {
        try
        {
            return assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException ex)
        {
            return ex.Types.OfType<Type>();
        }
    }

    private static bool IsCompilerGenerated(Type type)
        => type.IsDefined(typeof(CompilerGeneratedAttribute), inherit: false) || type.Name.Contains('<', StringComparison.Ordinal);

    private static bool IsFrameworkToString(Type type)
    {
        var declaring = type.GetMethod(nameof(ToString), BindingFlags.Instance | BindingFlags.Public, Type.EmptyTypes)!.DeclaringType!;
        return declaring.Assembly == typeof(object).Assembly;
    }

    private static IEnumerable<(Type Declaring, string Name, Type Type)> Members(Type type)
    {
        for (var current = type; current is not null && current != typeof(object); current = current.BaseType)
        {
            foreach (var property in current.GetProperties(Instance | BindingFlags.DeclaredOnly).Where(p => p.GetIndexParameters().Length == 0))
            {
                yield return (current, property.Name, property.PropertyType);
            }

            foreach (var field in current.GetFields(Instance | BindingFlags.DeclaredOnly).Where(f => !f.IsDefined(typeof(CompilerGeneratedAttribute), false)))
            {
                yield return (current, field.Name, field.FieldType);
            }
        }
    }

    private static bool IsSecretMember(Type declaring, string name, Type type)
        => (type == typeof(string) || type == typeof(byte[])) && SecretName().IsMatch(name) && !NotSecrets.Contains($"{declaring.FullName}.{name}");

    private static bool HoldsSecret(Type type, Dictionary<Type, bool> holding)
    {
        if (holding.TryGetValue(type, out var known))
        {
            return known;
        }

        holding[type] = false; // a type that holds itself holds a secret only through another member
        var holds = Members(type).Any(m => IsSecretMember(m.Declaring, m.Name, m.Type) || (IsOurs(m.Type) && HoldsSecret(m.Type, holding)));
        holding[type] = holds;
        return holds;
    }

    private static bool IsOurs(Type type)
        => type.Assembly.GetName().Name is { } name && (name.StartsWith("Coiled.Remote", StringComparison.Ordinal) || name.StartsWith("coiled-remote", StringComparison.Ordinal));

    /// <summary>An instance of <paramref name="type"/> with <see cref="Secret"/> in every secret member; null where none can be made.</summary>
    private static object? Build(Type type, int depth, HashSet<Type> building)
    {
        if (type.IsAbstract || type.IsInterface || !building.Add(type))
        {
            return null;
        }

        try
        {
            object? instance = null;
            Exception? failure = null;
            var constructors = type.GetConstructors(Instance)
                .Where(c => !(c.GetParameters() is [var only] && only.ParameterType == type)) // a record's copy constructor
                .OrderByDescending(c => c.GetParameters().Length);
            foreach (var constructor in constructors)
            {
                try
                {
                    instance = constructor.Invoke(constructor.GetParameters().Select(p => ValueFor(type, p.Name ?? string.Empty, p.ParameterType, depth, building)).ToArray());
                    break;
                }
                catch (TargetInvocationException ex)
                {
                    failure = ex.InnerException;
                }
            }

            if (instance is null && type.IsValueType)
            {
                instance = Activator.CreateInstance(type);
            }

            if (instance is null)
            {
                if (failure is not null)
                {
                    throw failure;
                }

                return null;
            }

            FillSecrets(instance, type, depth, building);
            return instance;
        }
        finally
        {
            building.Remove(type);
        }
    }

    /// <summary>Sets every secret member, through its setter or its backing field, so that init-only and required properties get the secret too.</summary>
    private static void FillSecrets(object instance, Type type, int depth, HashSet<Type> building)
    {
        for (var current = type; current is not null && current != typeof(object); current = current.BaseType)
        {
            foreach (var property in current.GetProperties(Instance | BindingFlags.DeclaredOnly).Where(p => p.GetIndexParameters().Length == 0))
            {
                var backing = current.GetField($"<{property.Name}>k__BackingField", Instance | BindingFlags.DeclaredOnly);
                if (IsSecretMember(current, property.Name, property.PropertyType))
                {
                    var secret = SecretValue(property.PropertyType);
                    if (property.SetMethod is { } setter)
                    {
                        setter.Invoke(instance, [secret]);
                    }
                    else
                    {
                        backing?.SetValue(instance, secret);
                    }
                }
                else if (backing is not null && backing.GetValue(instance) is null && IsOurs(property.PropertyType) && depth < MaxDepth)
                {
                    // A required member of our own type left unset: build it, so that a secret it holds is printed if the outer type prints it.
                    backing.SetValue(instance, Build(property.PropertyType, depth + 1, building));
                }
            }

            foreach (var field in current.GetFields(Instance | BindingFlags.DeclaredOnly).Where(f => !f.IsDefined(typeof(CompilerGeneratedAttribute), false)))
            {
                if (IsSecretMember(current, field.Name, field.FieldType))
                {
                    field.SetValue(instance, SecretValue(field.FieldType));
                }
            }
        }
    }

    private static object SecretValue(Type type) => type == typeof(string) ? Secret : Encoding.UTF8.GetBytes(Secret);

    /// <summary>A plain value of <paramref name="type"/> for a parameter of <paramref name="owner"/>'s constructor: the secret where the name says it is one.</summary>
    private static object? ValueFor(Type owner, string name, Type type, int depth, HashSet<Type> building)
    {
        if (IsSecretMember(owner, name, type))
        {
            return SecretValue(type);
        }

        if (Nullable.GetUnderlyingType(type) is not null)
        {
            return null;
        }

        return type switch
        {
            _ when type == typeof(string) => "value",
            _ when type == typeof(byte[]) => new byte[] { 1, 2, 3 },
            _ when type == typeof(bool) => false,
            _ when type.IsEnum => Enum.GetValues(type) is { Length: > 0 } values ? values.GetValue(0) : Activator.CreateInstance(type),
            _ when type.IsPrimitive || type == typeof(decimal) => Convert.ChangeType(1, type, System.Globalization.CultureInfo.InvariantCulture),
            _ when type == typeof(TimeSpan) => TimeSpan.FromMinutes(1),
            _ when type == typeof(DateTimeOffset) => new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero),
            _ when type == typeof(DateTime) => new DateTime(2025, 1, 2, 3, 4, 5, DateTimeKind.Utc),
            _ when type == typeof(Uri) => new Uri("https://worker.example/"),
            _ when type == typeof(IPEndPoint) => new IPEndPoint(IPAddress.Loopback, 7400),
            _ when type == typeof(IPAddress) => IPAddress.Loopback,
            _ when type == typeof(TimeProvider) => TimeProvider.System,
            _ when type == typeof(ILoggerFactory) => NullLoggerFactory.Instance,
            _ when type == typeof(ILogger) => NullLogger.Instance,
            _ when type.IsArray => Array.CreateInstance(type.GetElementType()!, 0),
            _ when type.IsGenericType && IsDictionary(type) => Activator.CreateInstance(typeof(Dictionary<,>).MakeGenericType(type.GetGenericArguments())),
            _ when type.IsGenericType && type.IsInterface && typeof(IEnumerable).IsAssignableFrom(type) => Array.CreateInstance(type.GetGenericArguments()[0], 0),
            _ when type.IsValueType => Activator.CreateInstance(type),
            _ when depth < MaxDepth && !typeof(Delegate).IsAssignableFrom(type) => Build(type, depth + 1, building),
            _ => null,
        };
    }

    private static bool IsDictionary(Type type)
    {
        var definition = type.GetGenericTypeDefinition();
        return definition == typeof(IReadOnlyDictionary<,>) || definition == typeof(IDictionary<,>) || definition == typeof(Dictionary<,>);
    }

    [GeneratedRegex("token|key|secret|password|credential|pfx", RegexOptions.IgnoreCase)]
    private static partial Regex SecretName();
}
