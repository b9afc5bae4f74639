using System.Collections.Concurrent;
using Coiled.Remote.Scheduling;
using Coiled.Remote.Serialization;
using Coiled.Remote.Stubs;
using MessagePack;
using MessagePack.Formatters;

namespace Coiled.Remote.Sharing;

/// <summary>
/// Writes one task's arguments as the method declares them (as <see cref="DeclaredArguments{TArgs}"/> does), each
/// argument of a reference type through <see cref="ArgumentSharing"/>, so that a large one repeated across items can be
/// sent once per worker.
/// </summary>
internal abstract class SharingArgumentWriter<TArgs>
{
    private static readonly ConcurrentDictionary<RemoteStub, SharingArgumentWriter<TArgs>?> Writers = new();

    /// <summary>The writer of a method's arguments; null when none of them can be shared (no argument is of a reference type).</summary>
    public static SharingArgumentWriter<TArgs>? For(RemoteStub stub) => stub.ArgumentCount == 0 ? null : Writers.GetOrAdd(stub, Create);

    public abstract void Write(ref MessagePackWriter writer, TArgs arguments, ArgumentSharing sharing);

    /// <summary>The formatter of the argument at <paramref name="position"/>, passed as <typeparamref name="T"/>, that writes it as the method declares it.</summary>
    protected static IMessagePackFormatter<T> Declared<T>(RemoteStub stub, int position)
        => stub.ArgumentTypes[position] == typeof(T) ? FormatterOf<T>.Instance : new DeclaredFormatter<T>(BoxedCodec.For(stub.ArgumentTypes[position]));

    private static SharingArgumentWriter<TArgs>? Create(RemoteStub stub)
    {
        Type[] passed = stub.ArgumentCount == 1 ? [typeof(TArgs)] : typeof(TArgs).GetGenericArguments();
        if (passed.All(type => type.IsValueType))
        {
            return null;
        }

        var writer = passed.Length switch
        {
            1 => typeof(SharingArguments<>),
            2 => typeof(SharingArguments<,>),
            3 => typeof(SharingArguments<,,>),
            _ => typeof(SharingArguments<,,,>),
        };
        return (SharingArgumentWriter<TArgs>)Activator.CreateInstance(writer.MakeGenericType(passed), stub)!;
    }

    /// <summary>Writes a value passed as <typeparamref name="T"/> as the type the method declares.</summary>
    private sealed class DeclaredFormatter<T>(BoxedCodec declared) : IMessagePackFormatter<T>
    {
        public void Serialize(ref MessagePackWriter writer, T value, MessagePackSerializerOptions options) => declared.Write(ref writer, value, options);

        public T Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options) => throw new NotSupportedException("Arguments are only written here.");
    }
}

/// <summary>The arguments of a one-argument method.</summary>
internal sealed class SharingArguments<T1>(RemoteStub stub) : SharingArgumentWriter<T1>
{
    private readonly IMessagePackFormatter<T1> _f1 = Declared<T1>(stub, 0);

    public override void Write(ref MessagePackWriter writer, T1 arguments, ArgumentSharing sharing)
    {
        writer.WriteArrayHeader(1);
        sharing.Write(ref writer, 0, arguments, _f1);
    }
}

/// <summary>The arguments of a two-argument method.</summary>
internal sealed class SharingArguments<T1, T2>(RemoteStub stub) : SharingArgumentWriter<(T1, T2)>
{
    private readonly IMessagePackFormatter<T1> _f1 = Declared<T1>(stub, 0);
    private readonly IMessagePackFormatter<T2> _f2 = Declared<T2>(stub, 1);

    public override void Write(ref MessagePackWriter writer, (T1, T2) arguments, ArgumentSharing sharing)
    {
        writer.WriteArrayHeader(2);
        sharing.Write(ref writer, 0, arguments.Item1, _f1);
        sharing.Write(ref writer, 1, arguments.Item2, _f2);
    }
}

/// <summary>The arguments of a three-argument method.</summary>
internal sealed class SharingArguments<T1, T2, T3>(RemoteStub stub) : SharingArgumentWriter<(T1, T2, T3)>
{
    private readonly IMessagePackFormatter<T1> _f1 = Declared<T1>(stub, 0);
    private readonly IMessagePackFormatter<T2> _f2 = Declared<T2>(stub, 1);
    private readonly IMessagePackFormatter<T3> _f3 = Declared<T3>(stub, 2);

    public override void Write(ref MessagePackWriter writer, (T1, T2, T3) arguments, ArgumentSharing sharing)
    {
        writer.WriteArrayHeader(3);
        sharing.Write(ref writer, 0, arguments.Item1, _f1);
        sharing.Write(ref writer, 1, arguments.Item2, _f2);
        sharing.Write(ref writer, 2, arguments.Item3, _f3);
    }
}

/// <summary>The arguments of a four-argument method.</summary>
internal sealed class SharingArguments<T1, T2, T3, T4>(RemoteStub stub) : SharingArgumentWriter<(T1, T2, T3, T4)>
{
    private readonly IMessagePackFormatter<T1> _f1 = Declared<T1>(stub, 0);
    private readonly IMessagePackFormatter<T2> _f2 = Declared<T2>(stub, 1);
    private readonly IMessagePackFormatter<T3> _f3 = Declared<T3>(stub, 2);
    private readonly IMessagePackFormatter<T4> _f4 = Declared<T4>(stub, 3);

    public override void Write(ref MessagePackWriter writer, (T1, T2, T3, T4) arguments, ArgumentSharing sharing)
    {
        writer.WriteArrayHeader(4);
        sharing.Write(ref writer, 0, arguments.Item1, _f1);
        sharing.Write(ref writer, 1, arguments.Item2, _f2);
        sharing.Write(ref writer, 2, arguments.Item3, _f3);
        sharing.Write(ref writer, 3, arguments.Item4, _f4);
    }
}
