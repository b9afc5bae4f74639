using Coiled.Remote.Serialization;
using MessagePack;
using MessagePack.Formatters;

namespace Coiled.Remote.Sharing;

/// <summary>
/// How a <see cref="Shared{T}"/> is read on a worker: from the bytes of its value, which the caller sent once and the
/// task's argument refers to (<see cref="ISharedValueSource.Read{T}"/> reads it once, as <c>Shared&lt;T&gt;</c>, for every
/// task). The caller never writes one this way: a whole argument travels as a reference (<see cref="ArgumentSharing"/>),
/// and one inside another value, or a result, is refused, since its value would travel with every copy.
/// </summary>
internal sealed class SharedHandleFormatter<T> : IMessagePackFormatter<Shared<T>?>
{
    public static readonly SharedHandleFormatter<T> Instance = new();

    public void Serialize(ref MessagePackWriter writer, Shared<T>? value, MessagePackSerializerOptions options)
    {
        if (value is null)
        {
            writer.WriteNil();
            return;
        }

        throw UnsendableValueException.Unserializable(new InvalidOperationException(
            "a Shared<T> travels only as a whole argument of a [Remote] method whose parameter is Shared<T>, as a reference to the value its cluster sent each worker once. " +
            "Pass it as an argument of its own, or pass its Value.")).At(value, typeof(Shared<T>));
    }

    public Shared<T>? Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
        => reader.TryReadNil() ? null : new Shared<T>(options.Resolver.GetFormatterWithVerify<T>().Deserialize(ref reader, options));
}
