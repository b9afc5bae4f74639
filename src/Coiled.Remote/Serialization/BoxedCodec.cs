using MessagePack;

namespace Coiled.Remote.Serialization;

/// <summary>
/// Reads and writes a value, boxed, with the formatter of a type known only at run time: a member's declared type
/// (<see cref="MemberwiseFormatter{T}"/>), or the type a [Remote] method declares for an argument or its result when
/// the caller's delegate names a different one.
/// </summary>
internal abstract class BoxedCodec
{
    public static BoxedCodec For(Type type) => (BoxedCodec)Activator.CreateInstance(typeof(Typed<>).MakeGenericType(type))!;

    public abstract void Write(ref MessagePackWriter writer, object? value, MessagePackSerializerOptions options);

    public abstract object? Read(ref MessagePackReader reader, MessagePackSerializerOptions options);

    private sealed class Typed<T> : BoxedCodec
    {
        public override void Write(ref MessagePackWriter writer, object? value, MessagePackSerializerOptions options)
            => options.Resolver.GetFormatterWithVerify<T>().Serialize(ref writer, (T)value!, options);

        public override object? Read(ref MessagePackReader reader, MessagePackSerializerOptions options)
            => options.Resolver.GetFormatterWithVerify<T>().Deserialize(ref reader, options);
    }
}
