using MessagePack;
using MessagePack.Formatters;

namespace Coiled.Remote.Serialization;

/// <summary>
/// Refuses a set or dictionary that compares its keys with a comparer of its own, which would not travel
/// (<see cref="CustomComparers"/>), before the formatter it wraps writes the items.
/// </summary>
internal sealed class ComparerCheckFormatter<T>(IMessagePackFormatter<T> inner) : IMessagePackFormatter<T>
{
    public void Serialize(ref MessagePackWriter writer, T value, MessagePackSerializerOptions options)
    {
        if (value is not null && CustomComparers.Describe(value) is { } lost)
        {
            throw UnsendableValueException.Incomplete(value.GetType(), lost).At(value, typeof(T));
        }

        inner.Serialize(ref writer, value, options);
    }

    public T Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options) => inner.Deserialize(ref reader, options);
}
