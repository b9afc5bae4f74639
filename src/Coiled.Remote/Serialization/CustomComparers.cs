using System.Collections.Concurrent;
using System.Collections.Immutable;

namespace Coiled.Remote.Serialization;

/// <summary>
/// Sets and dictionaries that compare their keys with a comparer of their own (<c>StringComparer.OrdinalIgnoreCase</c>,
/// a descending order): MessagePack writes their items only, so they would arrive comparing with the default comparer,
/// finding other keys and sorting in another order. Comparers that behave as the default, and MessagePack's own, which
/// a set or dictionary that arrived has, are not reported.
/// </summary>
internal static class CustomComparers
{
    /// <summary>The collections whose comparer is looked at, and the property that holds it.</summary>
    private static readonly Dictionary<Type, string> Comparers = new()
    {
        [typeof(Dictionary<,>)] = nameof(Dictionary<int, int>.Comparer),
        [typeof(HashSet<>)] = nameof(HashSet<int>.Comparer),
        [typeof(ConcurrentDictionary<,>)] = nameof(ConcurrentDictionary<int, int>.Comparer),
        [typeof(SortedSet<>)] = nameof(SortedSet<int>.Comparer),
        [typeof(SortedDictionary<,>)] = nameof(SortedDictionary<int, int>.Comparer),
        [typeof(SortedList<,>)] = nameof(SortedList<int, int>.Comparer),
        [typeof(ImmutableHashSet<>)] = nameof(ImmutableHashSet<int>.KeyComparer),
        [typeof(ImmutableDictionary<,>)] = nameof(ImmutableDictionary<int, int>.KeyComparer),
        [typeof(ImmutableSortedSet<>)] = nameof(ImmutableSortedSet<int>.KeyComparer),
        [typeof(ImmutableSortedDictionary<,>)] = nameof(ImmutableSortedDictionary<int, int>.KeyComparer),
    };

    /// <summary>The framework's string comparers by name; the current culture's are equal to the invariant ones when it is invariant.</summary>
    private static readonly (StringComparer Comparer, string Name)[] StringComparers =
    [
        (StringComparer.Ordinal, "StringComparer.Ordinal"),
        (StringComparer.OrdinalIgnoreCase, "StringComparer.OrdinalIgnoreCase"),
        (StringComparer.InvariantCulture, "StringComparer.InvariantCulture"),
        (StringComparer.InvariantCultureIgnoreCase, "StringComparer.InvariantCultureIgnoreCase"),
        (StringComparer.CurrentCulture, "StringComparer.CurrentCulture"),
        (StringComparer.CurrentCultureIgnoreCase, "StringComparer.CurrentCultureIgnoreCase"),
    ];

    /// <summary>Per collection type, how to read its comparer and its key type's default one; null for other types.</summary>
    private static readonly ConcurrentDictionary<Type, (Func<object, object?> Comparer, object Default, bool Equality)?> Shapes = new();

    /// <summary>Whether a value declared as <paramref name="declared"/> can be a set or dictionary with a comparer.</summary>
    public static bool MayHold(Type declared)
        => declared.IsInterface || (declared.IsGenericType && Comparers.ContainsKey(declared.GetGenericTypeDefinition()));

    /// <summary>Why <paramref name="collection"/> would not arrive comparing as it does, and what to do; null when it would.</summary>
    public static string? Describe(object collection)
    {
        var type = collection.GetType();
        if (Shapes.GetOrAdd(type, Shape) is not { } shape || shape.Comparer(collection) is not { } comparer || BehavesAsDefault(comparer, shape))
        {
            return null;
        }

        var name = TypeNames.Of(type);
        var what = StringComparers.FirstOrDefault(known => known.Comparer.Equals(comparer)).Name ?? TypeNames.Of(comparer.GetType());
        var verb = shape.Equality ? "finding its keys" : "ordering its keys";
        return $"{name} compares its keys with {what}, which does not travel: it would arrive {verb} with the default comparer instead. " +
            $"Make it again with {what} where it arrives, or use keys whose default comparison is the one you need.";
    }

    private static bool BehavesAsDefault(object comparer, (Func<object, object?> Comparer, object Default, bool Equality) shape)
        => Equals(comparer, shape.Default)
            || (shape.Equality && ReferenceEquals(comparer, StringComparer.Ordinal))
            || comparer.GetType().Assembly == typeof(MessagePack.MessagePackSecurity).Assembly;

    private static (Func<object, object?> Comparer, object Default, bool Equality)? Shape(Type type)
    {
        if (!type.IsGenericType || !Comparers.TryGetValue(type.GetGenericTypeDefinition(), out var property))
        {
            return null;
        }

        var key = type.GetGenericArguments()[0];
        var sorted = type.Name.Contains("Sorted", StringComparison.Ordinal);
        var defaults = (sorted ? typeof(Comparer<>) : typeof(EqualityComparer<>)).MakeGenericType(key);
        return (MemberAccessors.Getter(type.GetProperty(property)!), defaults.GetProperty("Default")!.GetValue(null)!, !sorted);
    }
}
