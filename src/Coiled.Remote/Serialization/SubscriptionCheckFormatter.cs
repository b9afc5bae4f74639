using System.Reflection;
using MessagePack;
using MessagePack.Formatters;

namespace Coiled.Remote.Serialization;

/// <summary>
/// Refuses a value whose field-like events have handlers, which would not travel (<see cref="HiddenState.Events"/>):
/// the value would arrive with none, and raising the event there would call nobody. Without handlers it is written
/// by the formatter it wraps.
/// </summary>
internal sealed class SubscriptionCheckFormatter<T>(IMessagePackFormatter<T> inner, IReadOnlyList<FieldInfo> events) : IMessagePackFormatter<T>
{
    private readonly Func<object, object?>[] _handlers = [.. events.Select(MemberAccessors.Getter)];

    public void Serialize(ref MessagePackWriter writer, T value, MessagePackSerializerOptions options)
    {
        if (value is not null)
        {
            for (var i = 0; i < _handlers.Length; i++)
            {
                if (_handlers[i](value) is not null)
                {
                    var type = TypeNames.Of(value.GetType());
                    throw UnsendableValueException.Incomplete(
                        value.GetType(),
                        $"{type} has handlers subscribed to its event {events[i].Name}, and handlers are code, which does not travel: it would arrive " +
                        "with none. Remove them before it is sent and subscribe again where it arrives, or mark the event [field: NonSerialized] to send it without them.")
                        .At(value, typeof(T));
                }
            }
        }

        inner.Serialize(ref writer, value, options);
    }

    public T Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options) => inner.Deserialize(ref reader, options);
}
