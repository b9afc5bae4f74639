using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Coiled.Remote.Serialization;
using Coiled.Remote.Stubs;
using MessagePack;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// Writes a call's arguments as the [Remote] method declares them. The argument types of a call are inferred from the
/// arguments themselves: <c>SubmitAsync(Jobs.Feed, new Dog())</c> passes a <c>Func&lt;Dog, ...&gt;</c> for
/// <c>Feed(Animal)</c>, and a value written as <c>Dog</c> would be read as <c>Animal</c> on the worker, without what
/// makes it a <c>Dog</c>. Written as <c>Animal</c>, it is checked and refused in the caller instead. When the types
/// match, as they usually do, the generated writer is used as it is.
/// </summary>
internal static class DeclaredArguments<TArgs>
{
    private static readonly ConcurrentDictionary<RemoteStub, ArgumentArrayWriter<TArgs>> Writers = new();

    public static ArgumentArrayWriter<TArgs> Writer(RemoteStub stub, ArgumentArrayWriter<TArgs> inferred)
    {
        if (stub.ArgumentCount == 0 || (stub.ArgumentCount == 1 && stub.ArgumentTypes[0] == typeof(TArgs)))
        {
            return inferred;
        }

        return Writers.GetOrAdd(stub, static (stub, inferred) => Create(stub, inferred), inferred);
    }

    private static ArgumentArrayWriter<TArgs> Create(RemoteStub stub, ArgumentArrayWriter<TArgs> inferred)
    {
        Type[] passed = stub.ArgumentCount == 1 ? [typeof(TArgs)] : typeof(TArgs).GetGenericArguments();
        if (passed.SequenceEqual(stub.ArgumentTypes))
        {
            return inferred;
        }

        var codecs = stub.ArgumentTypes.Select(BoxedCodec.For).ToArray();
        return (ref MessagePackWriter writer, TArgs arguments) =>
        {
            writer.WriteArrayHeader(codecs.Length);
            if (codecs.Length == 1)
            {
                codecs[0].Write(ref writer, arguments, RemoteSerializer.Options);
                return;
            }

            var tuple = (ITuple)arguments!;
            for (var i = 0; i < codecs.Length; i++)
            {
                codecs[i].Write(ref writer, tuple[i], RemoteSerializer.Options);
            }
        };
    }
}
