using System.Collections;
using System.Collections.Concurrent;
using MessagePack;
using MessagePack.Formatters;

namespace Coiled.Remote.Serialization;

/// <summary>
/// Values declared as <c>object</c>. MessagePack reads them back as primitives, strings, <c>byte[]</c>, UTC
/// <c>DateTime</c>s, <c>object[]</c> and <c>Dictionary&lt;object, object&gt;</c> only, whatever they were: a record
/// would arrive as a dictionary of its members, an enum or a char as its number, a local time as UTC. So values of other types
/// are refused before anything is sent, naming the type to declare instead; those that keep their type (collections
/// too) are written as before.
/// </summary>
internal sealed class ObjectFormatter : IMessagePackFormatter<object?>
{
    public static readonly ObjectFormatter Instance = new();

    /// <summary>Whether a value of the type keeps its type, or its kind of collection, through an <c>object</c>-typed member.</summary>
    private static readonly ConcurrentDictionary<Type, bool> Travels = new();

    private ObjectFormatter()
    {
    }

    public void Serialize(ref MessagePackWriter writer, object? value, MessagePackSerializerOptions options)
    {
        if (value is not null && (!Travels.GetOrAdd(value.GetType(), KeepsItsType) || value is DateTime { Kind: not DateTimeKind.Utc }))
        {
            var type = value.GetType();
            throw UnsendableValueException.DeclaredAs(
                typeof(object), type,
                IsOrHoldsChar(type)
                    ? "a char travels as its number, so through object it would arrive as a byte or a ushort"
                    : "only primitives, strings, byte[], UTC DateTimes and collections of primitives, strings and byte[] keep their type through object, " +
                        "so it would not arrive as itself")
                .At(value, typeof(object));
        }

        if (value is string text)
        {
            // The fallback writes strings itself, without StringFormatter's check.
            StringFormatter.Instance.Serialize(ref writer, text, options);
            return;
        }

        DynamicObjectTypeFallbackFormatter.Instance.Serialize(ref writer, value, options);
    }

    public object? Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
        => DynamicObjectTypeFallbackFormatter.Instance.Deserialize(ref reader, options);

    /// <summary>A DateTime keeps its type on its own (written as a timestamp), not in a typed collection, which writes its own encoding.</summary>
    private static bool KeepsItsType(Type type) => type == typeof(DateTime) || IsItem(type);

    /// <summary>Whether a value of the type, on its own or in a collection, arrives as itself or as its kind of collection.</summary>
    private static bool IsItem(Type type)
    {
        if (type.IsPrimitive)
        {
            return type != typeof(IntPtr) && type != typeof(UIntPtr) && type != typeof(char);
        }

        if (type == typeof(string) || type == typeof(byte[]))
        {
            return true;
        }

        if (type.IsArray)
        {
            return HoldsItems(type.GetElementType()!);
        }

        if (!typeof(IEnumerable).IsAssignableFrom(type))
        {
            return false;
        }

        // A generic collection says what it holds; a non-generic one (ArrayList, Hashtable) holds objects, each checked as it is written.
        var dictionary = type.GetInterfaces().FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IDictionary<,>));
        if (dictionary is not null)
        {
            return dictionary.GetGenericArguments().All(HoldsItems);
        }

        var enumerable = type.GetInterfaces().FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>));
        return enumerable is null || HoldsItems(enumerable.GetGenericArguments()[0]);
    }

    private static bool HoldsItems(Type type) => type == typeof(object) || IsItem(type);

    private static bool IsOrHoldsChar(Type type)
        => type == typeof(char) || (type.IsArray && IsOrHoldsChar(type.GetElementType()!)) || (type.IsGenericType && type.GetGenericArguments().Any(IsOrHoldsChar));
}
