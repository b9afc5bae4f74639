using MessagePack;

namespace Coiled.Remote.Scheduling;

/// <summary>Writes the empty argument array of a method without arguments.</summary>
internal static class ArgumentArrays
{
    /// <summary>Writes an empty array.</summary>
    public static readonly ArgumentArrayWriter<ValueTuple> Empty = static (ref MessagePackWriter writer, ValueTuple _) => writer.WriteArrayHeader(0);
}

/// <summary>Writes the argument array of a one-argument method.</summary>
internal static class ArgumentArrays<T1>
{
    /// <summary>Writes the arguments as an array in parameter order.</summary>
    public static readonly ArgumentArrayWriter<T1> Writer = static (ref MessagePackWriter writer, T1 a) =>
    {
        writer.WriteArrayHeader(1);
        FormatterOf<T1>.Write(ref writer, a);
    };
}

/// <summary>Writes the argument array of a two-argument method.</summary>
internal static class ArgumentArrays<T1, T2>
{
    /// <summary>Writes the arguments as an array in parameter order.</summary>
    public static readonly ArgumentArrayWriter<(T1, T2)> Writer = static (ref MessagePackWriter writer, (T1, T2) a) =>
    {
        writer.WriteArrayHeader(2);
        FormatterOf<T1>.Write(ref writer, a.Item1);
        FormatterOf<T2>.Write(ref writer, a.Item2);
    };
}

/// <summary>Writes the argument array of a three-argument method.</summary>
internal static class ArgumentArrays<T1, T2, T3>
{
    /// <summary>Writes the arguments as an array in parameter order.</summary>
    public static readonly ArgumentArrayWriter<(T1, T2, T3)> Writer = static (ref MessagePackWriter writer, (T1, T2, T3) a) =>
    {
        writer.WriteArrayHeader(3);
        FormatterOf<T1>.Write(ref writer, a.Item1);
        FormatterOf<T2>.Write(ref writer, a.Item2);
        FormatterOf<T3>.Write(ref writer, a.Item3);
    };
}

/// <summary>Writes the argument array of a four-argument method.</summary>
internal static class ArgumentArrays<T1, T2, T3, T4>
{
    /// <summary>Writes the arguments as an array in parameter order.</summary>
    public static readonly ArgumentArrayWriter<(T1, T2, T3, T4)> Writer = static (ref MessagePackWriter writer, (T1, T2, T3, T4) a) =>
    {
        writer.WriteArrayHeader(4);
        FormatterOf<T1>.Write(ref writer, a.Item1);
        FormatterOf<T2>.Write(ref writer, a.Item2);
        FormatterOf<T3>.Write(ref writer, a.Item3);
        FormatterOf<T4>.Write(ref writer, a.Item4);
    };
}
