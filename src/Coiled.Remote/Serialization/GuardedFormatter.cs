using MessagePack;
using MessagePack.Formatters;

namespace Coiled.Remote.Serialization;

/// <summary>
/// Wraps the formatter of a type that other values can nest in (objects, structs, collections of them): writing
/// counts the nesting (<see cref="WriteDepth"/>) and stops past <see cref="RemoteSerializer.MaxDepth"/>, so that a
/// reference cycle or a very deep graph is an error instead of a stack overflow that would end the process; errors
/// from inside learn the path to the value that failed (<see cref="UnsendableValueException.Passing"/>).
/// Scalars, strings, <c>byte[]</c> and collections of scalars are never wrapped, so their paths cost nothing more.
/// </summary>
/// <param name="inner">The formatter that reads and writes the values.</param>
/// <param name="exactType">
/// Whether a value must be of exactly type <typeparamref name="T"/>: true for the classes that are written member by
/// member and can be derived from, since a derived value would arrive as a <typeparamref name="T"/> without its own members,
/// and for collection classes that can be derived from (<c>List&lt;T&gt;</c>), whose derived values would arrive as the base.
/// </param>
internal sealed class GuardedFormatter<T>(IMessagePackFormatter<T> inner, bool exactType) : IMessagePackFormatter<T>
{
    public void Serialize(ref MessagePackWriter writer, T value, MessagePackSerializerOptions options)
    {
        if (value is null)
        {
            writer.WriteNil();
            return;
        }

        var depth = WriteDepth.Enter();
        try
        {
            if (depth > RemoteSerializer.MaxDepth)
            {
                throw UnsendableValueException.TooDeep();
            }

            if (exactType && value.GetType() != typeof(T))
            {
                throw UnsendableValueException.DerivedFrom(typeof(T), value.GetType());
            }

            inner.Serialize(ref writer, value, options);
        }
        catch (UnsendableValueException ex) when (ex.Passing(value, typeof(T)))
        {
            // Never entered: the filter records where the exception passed and lets it go on.
            throw;
        }
        catch (Exception ex) when (ex is not UnsendableValueException and not Transport.BufferLimitException)
        {
            throw UnsendableValueException.Unserializable(ex).At(value, typeof(T));
        }
        finally
        {
            WriteDepth.Leave();
        }
    }

    public T Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options) => inner.Deserialize(ref reader, options);
}
