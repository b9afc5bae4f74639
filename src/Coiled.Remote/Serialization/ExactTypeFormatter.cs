using MessagePack;
using MessagePack.Formatters;

namespace Coiled.Remote.Serialization;

/// <summary>
/// Writes only values of exactly <typeparamref name="T"/>, a collection class of scalars that can be derived from
/// (<c>List&lt;int&gt;</c>): a derived value (<c>Scores : List&lt;int&gt;</c>) would arrive as a <typeparamref name="T"/>.
/// Nothing nests in such a collection, so, unlike <see cref="GuardedFormatter{T}"/>, it does not count depth.
/// </summary>
internal sealed class ExactTypeFormatter<T>(IMessagePackFormatter<T> inner) : IMessagePackFormatter<T>
{
    public void Serialize(ref MessagePackWriter writer, T value, MessagePackSerializerOptions options)
    {
        if (value is not null && value.GetType() != typeof(T))
        {
            throw UnsendableValueException.DerivedFrom(typeof(T), value.GetType()).At(value, typeof(T));
        }

        inner.Serialize(ref writer, value, options);
    }

    public T Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options) => inner.Deserialize(ref reader, options);
}
