using MessagePack;
using MessagePack.Formatters;
using MessagePack.ImmutableCollection;
using MessagePack.Resolvers;

namespace Coiled.Remote.Serialization;

/// <summary>
/// MessagePack's contractless resolution, except that <c>byte[]</c> is read by <see cref="UninitializedByteArrayFormatter"/>
/// and every type other values can nest in is guarded against cycles and depth (<see cref="GuardedFormatter{T}"/>).
/// Formatters are chosen once per type and cached in a static generic field, as the built-in resolvers do.
/// </summary>
internal sealed class RemoteResolver : IFormatterResolver
{
    public static readonly RemoteResolver Instance = new();

    /// <summary>What <c>ContractlessStandardResolver</c> tries before its object resolvers, in the same order.</summary>
    private static readonly IFormatterResolver[] Standard =
    [
        BuiltinResolver.Instance,
        AttributeFormatterResolver.Instance,
        ImmutableCollectionResolver.Instance,
        CompositeResolver.Create(ExpandoObjectFormatter.Instance),
        DynamicGenericResolver.Instance,
        DynamicUnionResolver.Instance,
    ];

    private RemoteResolver()
    {
    }

    public IMessagePackFormatter<T>? GetFormatter<T>() => Cache<T>.Formatter;

    private static IMessagePackFormatter<T>? Create<T>()
    {
        var type = typeof(T);
        if (type == typeof(byte[]))
        {
            return (IMessagePackFormatter<T>)(object)UninitializedByteArrayFormatter.Instance;
        }

        if (type == typeof(object))
        {
            // Writes a value as its runtime type, whose own formatter is guarded.
            return ContractlessStandardResolver.Instance.GetFormatter<T>();
        }

        if (Standard.Select(r => r.GetFormatter<T>()).FirstOrDefault(f => f is not null) is { } standard)
        {
            // A nullable struct's own formatter is guarded; a collection of scalars has nothing to nest.
            return Nullable.GetUnderlyingType(type) is not null || ScalarTypes.IsScalarOrCollectionOfScalars(type)
                ? standard
                : new GuardedFormatter<T>(standard);
        }

        return ContractlessStandardResolver.Instance.GetFormatter<T>() is { } formatter ? new GuardedFormatter<T>(formatter) : null;
    }

    private static class Cache<T>
    {
        public static readonly IMessagePackFormatter<T>? Formatter = Create<T>();
    }
}
