using System.Reflection;
using System.Runtime.Serialization;
using MessagePack;
using MessagePack.Formatters;

namespace Coiled.Remote.Serialization;

/// <summary>
/// Collection classes of the user's own, derived from a framework collection (<c>Scores : List&lt;int&gt;</c>,
/// <c>Catalog : Dictionary&lt;string, Item&gt;</c>). MessagePack writes such a class through its non-generic
/// <c>IList</c> or <c>IDictionary</c> face, each item as <c>object</c>, which refuses records and reads numbers back as
/// other types; here it is written through its typed face instead, item by item as declared. A collection travels
/// as its items only, so one that also keeps state of its own (a <c>Name</c> property) is refused, naming that state.
/// </summary>
internal static class DerivedCollections
{
    private const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.DeclaredOnly;

    /// <summary>The formatter for <typeparamref name="T"/> when it is such a class; null when it is not one.</summary>
    /// <param name="refusal">Why it cannot travel, when it keeps state of its own; otherwise null.</param>
    public static IMessagePackFormatter<T>? For<T>(out string? refusal)
    {
        refusal = null;
        var type = typeof(T);
        if (!type.IsClass || type.IsAbstract || IsFramework(type) || type.GetConstructor(Type.EmptyTypes) is null)
        {
            return null;
        }

        Type formatter;
        if (Implemented(type, typeof(IDictionary<,>)) is { } dictionary)
        {
            formatter = typeof(GenericDictionaryFormatter<,,>).MakeGenericType([.. dictionary.GetGenericArguments(), type]);
        }
        else if (Implemented(type, typeof(ICollection<>)) is { } collection)
        {
            formatter = typeof(GenericCollectionFormatter<,>).MakeGenericType(collection.GetGenericArguments()[0], type);
        }
        else
        {
            return null;
        }

        refusal = OwnState(type);
        return (IMessagePackFormatter<T>)Activator.CreateInstance(formatter)!;
    }

    /// <summary>The one <paramref name="definition"/> the type implements (<c>ICollection&lt;int&gt;</c>); null for none or several.</summary>
    private static Type? Implemented(Type type, Type definition)
    {
        var found = type.GetInterfaces().Where(i => i.IsGenericType && i.GetGenericTypeDefinition() == definition).ToList();
        return found.Count == 1 ? found[0] : null;
    }

    /// <summary>The state the type's own classes, below the framework's collection, keep; null when they keep none.</summary>
    private static string? OwnState(Type type)
    {
        var own = new List<string>();
        for (var current = type; current is not null && !IsFramework(current); current = current.BaseType)
        {
            foreach (var field in current.GetFields(Declared))
            {
                var property = field.Name.EndsWith(">k__BackingField", StringComparison.Ordinal)
                    ? current.GetProperty(field.Name[1..field.Name.IndexOf('>', StringComparison.Ordinal)], Declared)
                    : null;
                if (!StaysBehind(field) && (property is null || !StaysBehind(property)))
                {
                    own.Add(property is not null ? $"property {property.Name}" : $"field {field.Name}");
                }
            }
        }

        if (own.Count == 0)
        {
            return null;
        }

        var name = TypeNames.Of(type);
        return $"{name} keeps state of its own ({string.Join(", ", own)}) besides its items, and a collection travels as its items only, " +
            $"so {name} would arrive without it. Pass the items and that state side by side, in a record of their own.";
    }

    private static bool IsFramework(Type type)
        => type.Assembly == typeof(object).Assembly || (type.Namespace?.StartsWith("System", StringComparison.Ordinal) ?? false);

    private static bool StaysBehind(MemberInfo member)
        => member.IsDefined(typeof(NonSerializedAttribute), true)
            || member.IsDefined(typeof(IgnoreMemberAttribute), true)
            || member.IsDefined(typeof(IgnoreDataMemberAttribute), true);
}
