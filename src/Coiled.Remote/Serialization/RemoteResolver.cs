using System.Collections;
using System.Numerics;
using System.Runtime.Serialization;
using MessagePack;
using MessagePack.Formatters;
using MessagePack.ImmutableCollection;
using MessagePack.Resolvers;

namespace Coiled.Remote.Serialization;

/// <summary>
/// MessagePack's contractless resolution, made exact: a value either arrives as the same value or is refused with an
/// <see cref="UnsendableValueException"/> before anything is sent. On top of <c>ContractlessStandardResolver</c>:
/// <list type="bullet">
/// <item>strings that UTF-8 cannot carry are refused (<see cref="StringFormatter"/>);</item>
/// <item><c>byte[]</c> is read by <see cref="UninitializedByteArrayFormatter"/>;</item>
/// <item><c>BigInteger</c>, <c>Int128</c> and <c>UInt128</c> travel as their bytes (<see cref="WideIntegerFormatter"/>);</item>
/// <item><c>DateTime</c> keeps its <c>Kind</c> (<see cref="NativeDateTimeResolver"/>, <c>ToBinary</c>);</item>
/// <item>streams, tasks, tokens, native-sized integers and exceptions are refused saying what to pass instead (<see cref="UnsendableTypes"/>);</item>
/// <item><c>object</c> refuses values that would arrive as another type (<see cref="ObjectFormatter"/>), and so do
/// interfaces and abstract classes that are not collections (<see cref="RefusedTypeFormatter{T}"/>);</item>
/// <item>classes and structs whose state the contractless formatter would drop are written member by member
/// (<see cref="ObjectShape"/>), and those the reader could not create are refused;</item>
/// <item>every type other values can nest in is guarded against cycles and depth (<see cref="GuardedFormatter{T}"/>);</item>
/// <item>only a value of exactly its class may be passed for a collection class that can be derived from
/// (<see cref="GuardedFormatter{T}"/>, <see cref="ExactTypeFormatter{T}"/>);</item>
/// <item>sets and dictionaries with comparers of their own are refused (<see cref="ComparerCheckFormatter{T}"/>);</item>
/// <item><c>Shared&lt;T&gt;</c> is read from its value's bytes and never written inline (<see cref="Sharing.SharedHandleFormatter{T}"/>);</item>
/// <item>the user's own collection classes are written through their typed face (<see cref="DerivedCollections"/>).</item>
/// </list>
/// Formatters are chosen once per type and cached in a static generic field, as the built-in resolvers do.
/// </summary>
internal sealed class RemoteResolver : IFormatterResolver
{
    public static readonly RemoteResolver Instance = new();

    /// <summary>What <c>ContractlessStandardResolver</c> tries before its object resolvers, in the same order.</summary>
    private static readonly IFormatterResolver[] Standard =
    [
        BuiltinResolver.Instance,
        AttributeFormatterResolver.Instance,
        ImmutableCollectionResolver.Instance,
        CompositeResolver.Create(ExpandoObjectFormatter.Instance),
        DynamicGenericResolver.Instance,
        DynamicUnionResolver.Instance,
    ];

    private RemoteResolver()
    {
    }

    public IMessagePackFormatter<T>? GetFormatter<T>() => Cache<T>.Formatter;

    private static IMessagePackFormatter<T>? Create<T>()
    {
        var type = typeof(T);
        if (type == typeof(string))
        {
            return (IMessagePackFormatter<T>)(object)StringFormatter.Instance;
        }

        if (type == typeof(string[]))
        {
            // The built-in formatter of string[] writes the strings itself; this one asks for StringFormatter.
            return (IMessagePackFormatter<T>)(object)new ArrayFormatter<string>();
        }

        if (type == typeof(byte[]))
        {
            return (IMessagePackFormatter<T>)(object)UninitializedByteArrayFormatter.Instance;
        }

        if (type == typeof(BigInteger) || type == typeof(Int128) || type == typeof(UInt128))
        {
            return (IMessagePackFormatter<T>)(object)WideIntegerFormatter.Instance;
        }

        // The built-in resolver's nullable formatters for these hold MessagePack's own; this one asks for ours.
        if (type == typeof(BigInteger?) || type == typeof(Int128?) || type == typeof(UInt128?))
        {
            return (IMessagePackFormatter<T>)Activator.CreateInstance(typeof(NullableFormatter<>).MakeGenericType(Nullable.GetUnderlyingType(type)!))!;
        }

        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Shared<>))
        {
            return (IMessagePackFormatter<T>)typeof(Sharing.SharedHandleFormatter<>).MakeGenericType(type.GetGenericArguments()[0]).GetField("Instance")!.GetValue(null)!;
        }

        if (NativeDateTimeResolver.Instance.GetFormatter<T>() is { } dateTime)
        {
            return dateTime;
        }

        if (type == typeof(object))
        {
            return (IMessagePackFormatter<T>)(object)ObjectFormatter.Instance;
        }

        if (UnsendableTypes.Explain(type) is { } unsendable)
        {
            return new RefusedTypeFormatter<T>(actual => UnsendableValueException.Uncreatable(actual, unsendable), unsendable);
        }

        if (DerivedCollections.For<T>(out var ownState) is { } derived)
        {
            return ownState is null
                ? new ComparerCheckFormatter<T>(new GuardedFormatter<T>(derived, exactType: !type.IsSealed))
                : new RefusedTypeFormatter<T>(_ => UnsendableValueException.Incomplete(type, ownState), ownState);
        }

        if (StandardFormatter<T>(out var failure) is { } standard)
        {
            var formatter = Guarded(type, standard);
            return typeof(IEnumerable).IsAssignableFrom(type) && CustomComparers.MayHold(type) ? new ComparerCheckFormatter<T>(formatter) : formatter;
        }

        if (failure is not null && !type.IsInterface && !type.IsAbstract)
        {
            return new RefusedTypeFormatter<T>(_ => UnsendableValueException.Unserializable(failure), failure.GetBaseException().Message);
        }

        if (type.IsInterface || type.IsAbstract)
        {
            var why = $"the other side could not tell which type to create for the {(type.IsInterface ? "interface" : "abstract class")} {TypeNames.Of(type)}";
            return new RefusedTypeFormatter<T>(actual => UnsendableValueException.DeclaredAs(type, actual, why), why);
        }

        if (type.IsSubclassOf(typeof(Delegate)))
        {
            const string Why = "delegates are code, and code does not travel as a value. Pass the data the code needs, and run the code in the [Remote] method.";
            return new RefusedTypeFormatter<T>(actual => UnsendableValueException.Uncreatable(actual, Why), Why);
        }

        var exactType = type.IsClass && !type.IsSealed;
        try
        {
            if (type.IsDefined(typeof(MessagePackObjectAttribute), true) || type.IsDefined(typeof(DataContractAttribute), true))
            {
                return Guard(DynamicObjectResolver.Instance.GetFormatter<T>(), exactType);
            }

            var shape = ObjectShape.Of(type);
            return shape.Kind switch
            {
                ObjectShape.Verdict.Contractless => WithEvents(type, Guard(DynamicContractlessObjectResolver.Instance.GetFormatter<T>(), exactType)),
                ObjectShape.Verdict.Memberwise => WithEvents(type, Guard(new MemberwiseFormatter<T>(shape), exactType)),
                ObjectShape.Verdict.LosesState => new RefusedTypeFormatter<T>(_ => UnsendableValueException.Incomplete(type, shape.Refusal), shape.Refusal),
                _ => new RefusedTypeFormatter<T>(_ => UnsendableValueException.Uncreatable(type, shape.Refusal), shape.Refusal),
            };
        }
        catch (Exception ex)
        {
            // MessagePack refuses some types when it builds their formatter; that is reported when a value is written.
            return new RefusedTypeFormatter<T>(_ => UnsendableValueException.Unserializable(ex), ex.GetBaseException().Message);
        }
    }

    /// <summary>
    /// The formatter of MessagePack's own resolvers, or null. They throw for some types they half know, such as an
    /// abstract collection class (<c>KeyedCollection&lt;K, V&gt;</c>); that is reported when a value is written.
    /// </summary>
    private static IMessagePackFormatter<T>? StandardFormatter<T>(out Exception? failure)
    {
        failure = null;
        try
        {
            return Standard.Select(r => r.GetFormatter<T>()).FirstOrDefault(f => f is not null);
        }
        catch (Exception ex)
        {
            failure = ex;
            return null;
        }
    }

    /// <summary>The guards a formatter of MessagePack's own resolvers needs: against depth and cycles, and for an exact type.</summary>
    private static IMessagePackFormatter<T> Guarded<T>(Type type, IMessagePackFormatter<T> standard)
    {
        // A collection class that can be derived from would read a derived value back as itself: only it may be written.
        var derivable = type.IsClass && !type.IsSealed && !type.IsAbstract && typeof(IEnumerable).IsAssignableFrom(type);

        // A nullable struct's own formatter is guarded; a collection of scalars has nothing to nest.
        if (Nullable.GetUnderlyingType(type) is not null || ScalarTypes.IsScalarOrCollectionOfScalars(type))
        {
            return derivable ? new ExactTypeFormatter<T>(standard) : standard;
        }

        return new GuardedFormatter<T>(standard, exactType: derivable);
    }

    /// <summary>The formatter, refusing values whose events have handlers when the type has field-like events.</summary>
    private static IMessagePackFormatter<T>? WithEvents<T>(Type type, IMessagePackFormatter<T>? formatter)
        => formatter is not null && HiddenState.Events(type) is { Count: > 0 } events ? new SubscriptionCheckFormatter<T>(formatter, events) : formatter;

    private static GuardedFormatter<T>? Guard<T>(IMessagePackFormatter<T>? formatter, bool exactType)
        => formatter is null ? null : new GuardedFormatter<T>(formatter, exactType);

    private static class Cache<T>
    {
        public static readonly IMessagePackFormatter<T>? Formatter = Create<T>();
    }
}
