using System.Buffers;
using System.ComponentModel;
using System.Reflection;
using Coiled.Remote.Serialization;
using Coiled.Remote.Sharing;
using MessagePack;

namespace Coiled.Remote.Stubs;

/// <summary>
/// The generated, serializable face of one [Remote] method: a stable id, the method itself, and an invoker that
/// reads the MessagePack arguments, calls the method directly and writes its MessagePack result.
/// The Coiled.Remote source generator emits one subclass per [Remote] method; not meant to be written by hand.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public abstract class RemoteStub
{
    /// <summary>Creates the stub.</summary>
    /// <param name="id">Stable id: <c>Namespace.Type.Method(ParameterTypes)</c>.</param>
    /// <param name="method">A delegate to the [Remote] method itself.</param>
    /// <param name="retries">The method's <see cref="RemoteAttribute.Retries"/>.</param>
    /// <param name="timeoutSeconds">The method's <see cref="RemoteAttribute.TimeoutSeconds"/>.</param>
    protected RemoteStub(string id, Delegate method, int retries, int timeoutSeconds)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(method);
        Id = id;
        Method = method.Method;
        Retries = retries;
        TimeoutSeconds = timeoutSeconds;
        var parameters = Method.GetParameters();
        AcceptsCancellation = parameters.Length > 0 && parameters[^1].ParameterType == typeof(CancellationToken);
        ArgumentCount = parameters.Length - (AcceptsCancellation ? 1 : 0);
        ArgumentTypes = [.. parameters.Take(ArgumentCount).Select(p => p.ParameterType)];
        ResultType = ResultTypeOf(Method.ReturnType);

        // Both are read for every batch and call; computed once, since Assembly.GetName() allocates each time.
        AssemblyName = Method.Module.Assembly.GetName().Name!;
        DisplayName = $"{Method.DeclaringType?.Name}.{Method.Name}";
    }

    /// <summary>Stable id of the method: <c>Namespace.Type.Method(ParameterTypes)</c>.</summary>
    public string Id { get; }

    /// <summary>The [Remote] method.</summary>
    public MethodInfo Method { get; }

    /// <summary>Re-runs after the method throws.</summary>
    public int Retries { get; }

    /// <summary>Seconds after which the method's token is cancelled; 0 for none.</summary>
    public int TimeoutSeconds { get; }

    /// <summary>Whether the method's last parameter is a <see cref="CancellationToken"/> supplied by the cluster.</summary>
    public bool AcceptsCancellation { get; }

    /// <summary>Number of arguments the caller passes (the trailing <see cref="CancellationToken"/> excluded).</summary>
    public int ArgumentCount { get; }

    /// <summary>The types the method declares for its arguments, which the arguments are written as.</summary>
    internal Type[] ArgumentTypes { get; }

    /// <summary>The type the method's result is written as: its return type, unwrapped from a task; <c>object</c> for none.</summary>
    internal Type ResultType { get; }

    /// <summary>Name of the assembly that declares the method.</summary>
    public string AssemblyName { get; }

    /// <summary>Describes the method for messages: <c>Jobs.Square</c>.</summary>
    public string DisplayName { get; }

    /// <summary>
    /// Reads the arguments, calls the method and writes its result (MessagePack nil for methods without one).
    /// </summary>
    /// <param name="arguments">One MessagePack array holding <see cref="ArgumentCount"/> arguments.</param>
    /// <param name="result">Where the result is written.</param>
    /// <param name="cancellationToken">Passed to the method when it accepts a token.</param>
    public abstract ValueTask InvokeAsync(ReadOnlyMemory<byte> arguments, IBufferWriter<byte> result, CancellationToken cancellationToken);

    /// <summary>Starts reading an argument array, checking that it holds <paramref name="count"/> values.</summary>
    protected MessagePackReader BeginArguments(ReadOnlyMemory<byte> arguments, int count)
    {
        var reader = new MessagePackReader(arguments);
        int actual;
        try
        {
            actual = reader.ReadArrayHeader();
        }
        catch (Exception ex) when (ex is MessagePackSerializationException or EndOfStreamException)
        {
            throw new RemoteArgumentException($"The arguments for {Id} are not a MessagePack array: {ex.Message}", ex);
        }

        if (actual != count)
        {
            throw new RemoteArgumentException($"{Id} takes {count} argument(s) but the task carried {actual}.");
        }

        return reader;
    }

    /// <summary>Reads the next argument as <typeparamref name="T"/>: the value itself, or a reference to a value shared with the worker.</summary>
    protected T ReadArgument<T>(ref MessagePackReader reader, int position)
    {
        try
        {
            if (SharedReference.TryRead(ref reader, out var hash))
            {
                return SharedReference.Source is { } shared
                    ? shared.Read<T>(hash)
                    : throw new RemoteArgumentException($"The argument refers to shared value {hash}, but this worker keeps no shared values here.");
            }

            return RemoteSerializer.Options.Resolver.GetFormatterWithVerify<T>().Deserialize(ref reader, RemoteSerializer.Options);
        }
        catch (Exception ex)
        {
            throw new RemoteArgumentException(
                $"Argument {position} of {Id} could not be read as {typeof(T)}: {ex.GetBaseException().Message}", ex);
        }
    }

    /// <summary>Writes a result that is already available.</summary>
    protected static ValueTask Return<T>(IBufferWriter<byte> result, T value)
    {
        WriteResult(result, value);
        return default;
    }

    /// <summary>Writes the nil that stands for "no result".</summary>
    protected static ValueTask ReturnNothing(IBufferWriter<byte> result)
    {
        var writer = new MessagePackWriter(result);
        writer.WriteNil();
        writer.Flush();
        return default;
    }

    /// <summary>Awaits the method's task and writes its result.</summary>
    protected static ValueTask Await<T>(Task<T> task, IBufferWriter<byte> result)
    {
        if (task.IsCompletedSuccessfully)
        {
            return Return(result, task.Result);
        }

        return AwaitSlow(task, result);

        static async ValueTask AwaitSlow(Task<T> task, IBufferWriter<byte> result)
            => WriteResult(result, await task.ConfigureAwait(false));
    }

    /// <summary>Awaits the method's value task and writes its result.</summary>
    protected static ValueTask Await<T>(ValueTask<T> task, IBufferWriter<byte> result)
    {
        if (task.IsCompletedSuccessfully)
        {
            return Return(result, task.Result);
        }

        return AwaitSlow(task, result);

        static async ValueTask AwaitSlow(ValueTask<T> task, IBufferWriter<byte> result)
            => WriteResult(result, await task.ConfigureAwait(false));
    }

    /// <summary>Awaits the method's task; the result is nil.</summary>
    protected static ValueTask Await(Task task, IBufferWriter<byte> result)
    {
        if (task.IsCompletedSuccessfully)
        {
            return ReturnNothing(result);
        }

        return AwaitSlow(task, result);

        static async ValueTask AwaitSlow(Task task, IBufferWriter<byte> result)
        {
            await task.ConfigureAwait(false);
            await ReturnNothing(result).ConfigureAwait(false);
        }
    }

    /// <summary>Awaits the method's value task; the result is nil.</summary>
    protected static ValueTask Await(ValueTask task, IBufferWriter<byte> result)
    {
        if (task.IsCompletedSuccessfully)
        {
            return ReturnNothing(result);
        }

        return AwaitSlow(task, result);

        static async ValueTask AwaitSlow(ValueTask task, IBufferWriter<byte> result)
        {
            await task.ConfigureAwait(false);
            await ReturnNothing(result).ConfigureAwait(false);
        }
    }

    private static Type ResultTypeOf(Type returnType)
    {
        if (returnType.IsGenericType && (returnType.GetGenericTypeDefinition() == typeof(Task<>) || returnType.GetGenericTypeDefinition() == typeof(ValueTask<>)))
        {
            return returnType.GetGenericArguments()[0];
        }

        return returnType == typeof(void) || returnType == typeof(Task) || returnType == typeof(ValueTask) ? typeof(object) : returnType;
    }

    private static void WriteResult<T>(IBufferWriter<byte> result, T value)
    {
        try
        {
            var writer = new MessagePackWriter(result);
            RemoteSerializer.Options.Resolver.GetFormatterWithVerify<T>().Serialize(ref writer, value, RemoteSerializer.Options);
            writer.Flush();
        }
        catch (Transport.BufferLimitException)
        {
            // The result passed the size limit while it was written: the worker says so in its own words.
            throw;
        }
        catch (UnsendableValueException ex)
        {
            throw new RemoteResultException(ex.Describe("The result", "return type"), ex);
        }
        catch (Exception ex)
        {
            throw new RemoteResultException(
                $"The result of type {typeof(T)} could not be serialized: {ex.GetBaseException().Message}", ex);
        }
    }
}
