using Coiled.Remote.Serialization;
using MessagePack;
using MessagePack.Formatters;

namespace Coiled.Remote.Scheduling;

/// <summary>The formatter for <typeparamref name="T"/> under <see cref="RemoteSerializer.Options"/>, looked up once.</summary>
internal static class FormatterOf<T>
{
    public static IMessagePackFormatter<T> Instance => LazyInstance.Value;

    private static readonly Lazy<IMessagePackFormatter<T>> LazyInstance = new(() => RemoteSerializer.Options.Resolver.GetFormatterWithVerify<T>());

    public static void Write(ref MessagePackWriter writer, T value) => Instance.Serialize(ref writer, value, RemoteSerializer.Options);

    public static T Read(ref MessagePackReader reader) => Instance.Deserialize(ref reader, RemoteSerializer.Options);
}
