using MessagePack;
using MessagePack.Formatters;

namespace Coiled.Remote.Serialization;

/// <summary>
/// A type whose values cannot travel, though null can: an interface or abstract class (the reader could not tell
/// which type to create), a delegate, or a class with no constructor the reader could call. Writing a value fails
/// with <see cref="UnsendableValueException"/> before anything is sent; reading one fails too.
/// </summary>
/// <param name="refuse">Makes the writer's error for a value, given its runtime type.</param>
/// <param name="reason">Why the type cannot be read, for the reader's error.</param>
internal sealed class RefusedTypeFormatter<T>(Func<Type, UnsendableValueException> refuse, string reason) : IMessagePackFormatter<T>
{
    public void Serialize(ref MessagePackWriter writer, T value, MessagePackSerializerOptions options)
    {
        if (value is null)
        {
            writer.WriteNil();
            return;
        }

        throw refuse(value.GetType()).At(value, typeof(T));
    }

    public T Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
    {
        if (reader.TryReadNil())
        {
            return default!;
        }

        throw new MessagePackSerializationException($"A value of type {TypeNames.Of(typeof(T))} cannot be read: {reason}");
    }
}
