using Microsoft.CodeAnalysis;

namespace Coiled.Remote.Generators;

/// <summary>
/// The types that cannot travel between processes as MessagePack, looked for in a type and, recursively,
/// in its array element types and generic type arguments (<c>List&lt;Stream&gt;</c> fails like <c>Stream</c>): those
/// that mean nothing in another process, and interfaces and abstract classes that are not collections, whose values
/// the serializer refuses. Everything else, <see cref="object"/> included, is left to the serializer, which refuses at
/// run time what only a value shows (a record in an <see cref="object"/>). A <c>Shared&lt;T&gt;</c> is serializable
/// as a parameter's whole type when its <c>T</c> is, and nowhere else.
/// </summary>
internal static class SerializableTypes
{
    /// <summary>Types as users write them: <c>int[,]</c>, not the compiler's <c>int[*,*]</c>.</summary>
    private static readonly SymbolDisplayFormat MessageFormat = SymbolDisplayFormat.CSharpShortErrorMessageFormat
        .RemoveMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.UseAsterisksInMultiDimensionalArrays);

    /// <summary>Why <paramref name="type"/> cannot be serialized, as a sentence for a diagnostic, or null when it can.</summary>
    /// <param name="type">The type.</param>
    /// <param name="parameter">
    /// Whether it is a parameter's whole type, the one place a <c>Shared&lt;T&gt;</c> may be: it then travels as a
    /// reference to its value, which must be serializable itself.
    /// </param>
    public static string? FindProblem(ITypeSymbol type, bool parameter = false)
    {
        var found = parameter && type is INamedTypeSymbol named && IsShared(named) ? FindCulprit(named.TypeArguments[0]) : FindCulprit(type);
        if (found is not { } culprit)
        {
            return null;
        }

        var whole = type.ToDisplayString(MessageFormat);
        var part = culprit.Type.ToDisplayString(MessageFormat);
        return SymbolEqualityComparer.Default.Equals(culprit.Type, type)
            ? $"'{whole}' {culprit.Explanation}"
            : $"'{whole}' contains '{part}', which {culprit.Explanation}";
    }

    public static bool IsCancellationToken(ITypeSymbol type)
        => type is INamedTypeSymbol named && Is(named, "System.Threading", "CancellationToken");

    /// <summary>Whether <paramref name="type"/> is <c>Task</c> or <c>ValueTask</c>: awaited, with no result.</summary>
    public static bool IsNonGenericTask(ITypeSymbol type)
        => type is INamedTypeSymbol named
            && (Is(named, "System.Threading.Tasks", "Task") || Is(named, "System.Threading.Tasks", "ValueTask"));

    /// <summary>The <c>T</c> of <c>Task&lt;T&gt;</c> or <c>ValueTask&lt;T&gt;</c>; null for any other type.</summary>
    public static ITypeSymbol? UnwrapGenericTask(ITypeSymbol type)
        => type is INamedTypeSymbol named
            && (Is(named, "System.Threading.Tasks", "Task`1") || Is(named, "System.Threading.Tasks", "ValueTask`1"))
            ? named.TypeArguments[0]
            : null;

    private static (ITypeSymbol Type, string Explanation)? FindCulprit(ITypeSymbol type)
    {
        switch (type)
        {
            case IPointerTypeSymbol or IFunctionPointerTypeSymbol:
                return (type, "is a pointer, which means nothing in another process; pass the data it points to instead");
            case IArrayTypeSymbol { Rank: > 4 }:
                return (type, "has more than 4 dimensions, which cannot be serialized; use a jagged array, or flatten it into a one-dimensional array with its lengths");
            case IArrayTypeSymbol array:
                return FindCulprit(array.ElementType);
            case INamedTypeSymbol named when named.TypeKind != TypeKind.Error:
                if (IsShared(named))
                {
                    return (type, "is a handle to a value shared with the workers, which travels only as a parameter of its own; declare the parameter as Shared<T>, or pass or return the value itself");
                }

                if (Explain(named) is { } explanation)
                {
                    return (type, explanation);
                }

                foreach (var argument in named.TypeArguments)
                {
                    if (FindCulprit(argument) is { } inner)
                    {
                        return inner;
                    }
                }

                return null;
            default:
                // Type parameters (already reported as generic), dynamic and error types.
                return null;
        }
    }

    private static string? Explain(INamedTypeSymbol type)
    {
        if (type.IsRefLikeType)
        {
            return "is a ref struct, which cannot be stored or serialized; use an array instead";
        }

        if (type.TypeKind == TypeKind.Delegate)
        {
            return "is a delegate, which cannot be sent to another process; pass data instead and call other methods from inside the [Remote] method";
        }

        if (type.SpecialType is SpecialType.System_IntPtr or SpecialType.System_UIntPtr)
        {
            return "is a native handle or address, which means nothing in another process; pass the data it refers to instead";
        }

        if (IsOrDerivesFrom(type, "System.IO", "Stream"))
        {
            return "is a stream, which cannot be sent to another process; pass a byte[] or a path the worker can read instead";
        }

        if (IsOrDerivesFrom(type, "System", "Type"))
        {
            return "cannot be serialized safely; pass the type's name and resolve it on the worker instead";
        }

        if (IsOrDerivesFrom(type, "System.Threading.Tasks", "Task")
            || Is(type, "System.Threading.Tasks", "ValueTask")
            || Is(type, "System.Threading.Tasks", "ValueTask`1"))
        {
            return "is a task, which cannot be serialized; await it and pass or return its result instead";
        }

        if (IsOrDerivesFrom(type, "System", "Exception"))
        {
            return "is an exception, which would arrive without its stack trace and inner exceptions' types; pass its message or ToString() as a string, or throw it in the [Remote] method to fail the call with a RemoteException";
        }

        if (IsCancellationToken(type))
        {
            return "cannot be serialized; take a CancellationToken as the method's last parameter and the cluster supplies it";
        }

        if (Is(type, "System.Collections.Generic", "IAsyncEnumerable`1")
            || Is(type, "System.Collections.Generic", "IAsyncEnumerator`1")
            || Is(type, "System.Collections.Generic", "IEnumerator`1")
            || Is(type, "System.Collections", "IEnumerator"))
        {
            return "is a lazy sequence, which cannot be serialized; use an array or a list instead";
        }

        // Values of other interfaces and abstract classes are refused at run time: the reader could not tell what to create.
        if ((type.TypeKind == TypeKind.Interface || (type.TypeKind == TypeKind.Class && type.IsAbstract))
            && !IsCollectionInterface(type) && !HasOwnFormatter(type))
        {
            return type.TypeKind == TypeKind.Interface
                ? "is an interface that is not a collection, so a worker could not tell which type to create from it; declare the class, record or struct you pass instead"
                : "is an abstract class, so a worker could not tell which derived type to create from it; declare the class or record you pass instead";
        }

        return null;
    }

    /// <summary>The collection interfaces that MessagePack reads into a collection of its choosing.</summary>
    private static bool IsCollectionInterface(INamedTypeSymbol type)
        => type.TypeKind == TypeKind.Interface && type.ContainingType is null && type.ContainingNamespace?.ToDisplayString() switch
        {
            "System.Collections.Generic" => type.MetadataName is "IEnumerable`1" or "ICollection`1" or "IList`1" or "IReadOnlyCollection`1"
                or "IReadOnlyList`1" or "ISet`1" or "IReadOnlySet`1" or "IDictionary`2" or "IReadOnlyDictionary`2",
            "System.Collections" => type.MetadataName is "IEnumerable" or "ICollection" or "IList" or "IDictionary",
            "System.Linq" => type.MetadataName is "ILookup`2" or "IGrouping`2",
            "System.Collections.Immutable" => type.MetadataName is "IImmutableList`1" or "IImmutableDictionary`2" or "IImmutableSet`1"
                or "IImmutableQueue`1" or "IImmutableStack`1",
            _ => false,
        };

    /// <summary>Whether <paramref name="type"/> is <c>Coiled.Remote.Shared&lt;T&gt;</c>, a handle from <c>Cluster.ShareAsync</c>.</summary>
    private static bool IsShared(INamedTypeSymbol type) => Is(type, "Coiled.Remote", "Shared`1");

    /// <summary>Whether the type says how MessagePack writes it: [Union] cases or a [MessagePackFormatter].</summary>
    private static bool HasOwnFormatter(INamedTypeSymbol type)
    {
        foreach (var attribute in type.GetAttributes())
        {
            if (attribute.AttributeClass?.ToDisplayString() is "MessagePack.UnionAttribute" or "MessagePack.MessagePackFormatterAttribute")
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsOrDerivesFrom(INamedTypeSymbol type, string ns, string metadataName)
    {
        for (INamedTypeSymbol? current = type; current is not null; current = current.BaseType)
        {
            if (Is(current, ns, metadataName))
            {
                return true;
            }
        }

        return false;
    }

    private static bool Is(INamedTypeSymbol type, string ns, string metadataName)
        => type.MetadataName == metadataName
            && type.ContainingType is null
            && type.ContainingNamespace?.ToDisplayString() == ns;
}
