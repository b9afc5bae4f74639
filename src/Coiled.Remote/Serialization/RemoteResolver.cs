using MessagePack;
using MessagePack.Formatters;
using MessagePack.Resolvers;

namespace Coiled.Remote.Serialization;

/// <summary>
/// Contractless MessagePack resolution, except that <c>byte[]</c> is read by <see cref="UninitializedByteArrayFormatter"/>.
/// Formatters are looked up once per type and cached in a static generic field, as the built-in resolvers do.
/// </summary>
internal sealed class RemoteResolver : IFormatterResolver
{
    public static readonly RemoteResolver Instance = new();

    private RemoteResolver()
    {
    }

    public IMessagePackFormatter<T>? GetFormatter<T>() => Cache<T>.Formatter;

    private static class Cache<T>
    {
        public static readonly IMessagePackFormatter<T>? Formatter = typeof(T) == typeof(byte[])
            ? (IMessagePackFormatter<T>)(object)UninitializedByteArrayFormatter.Instance
            : ContractlessStandardResolver.Instance.GetFormatter<T>();
    }
}
