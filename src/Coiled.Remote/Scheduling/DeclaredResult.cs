using System.Collections.Concurrent;
using Coiled.Remote.Serialization;
using Coiled.Remote.Stubs;
using MessagePack;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// Reads a result as the type the [Remote] method returns, which is what the worker wrote, then hands it over as the
/// caller's <typeparamref name="TResult"/>. They differ only when the caller views the method through a delegate of a
/// wider result type (<c>Func&lt;int, object&gt;</c> for a method returning <c>Node</c>): read as <c>object</c>, a
/// <c>Node</c> would arrive as a dictionary of its members.
/// </summary>
internal static class DeclaredResult<TResult>
{
    private static readonly ConcurrentDictionary<RemoteStub, BoxedCodec> Codecs = new();

    public static TResult Read(RemoteStub stub, ref MessagePackReader reader)
    {
        if (stub.ResultType == typeof(TResult))
        {
            return FormatterOf<TResult>.Read(ref reader);
        }

        var codec = Codecs.GetOrAdd(stub, static stub => BoxedCodec.For(stub.ResultType));
        return (TResult)codec.Read(ref reader, RemoteSerializer.Options)!;
    }
}
