using System.Runtime.CompilerServices;
using Coiled.Remote.Serialization;
using Coiled.Remote.Sharing;
using Coiled.Remote.Stubs;

namespace Coiled.Remote.Scheduling;

/// <summary>The caller's error for arguments that cannot be sent, naming the argument, the method and, in maps, the item.</summary>
internal static class ArgumentError
{
    /// <param name="stub">The method called.</param>
    /// <param name="arguments">The item's arguments: the argument itself, or a tuple of them.</param>
    /// <param name="index">The item's position in a map or stream; null for a single call.</param>
    /// <param name="error">What writing them threw.</param>
    public static ArgumentException From<TArgs>(RemoteStub stub, TArgs arguments, long? index, Exception error)
    {
        var item = index is { } i ? $", item {i}," : string.Empty;
        if (error is SharedHandleException handle)
        {
            return new ArgumentException($"Argument '{stub.Method.GetParameters()[handle.Position].Name}' of {stub.DisplayName}{item} {handle.Problem}", error);
        }

        if (error is not UnsendableValueException unsendable)
        {
            return new ArgumentException(
                $"The arguments of {stub.DisplayName}{item} cannot be serialized with MessagePack: {error.GetBaseException().Message} " +
                "Pass records, classes with public properties, collections, enums or primitives.", error);
        }

        var position = Position(stub, arguments, unsendable.Root);
        var subject = position < 0
            ? $"An argument of {stub.DisplayName}{item}"
            : $"Argument '{stub.Method.GetParameters()[position].Name}' of {stub.DisplayName}{item}";
        return new ArgumentException(unsendable.Describe(subject, "parameter"), error);
    }

    /// <summary>Which argument <paramref name="root"/> is; -1 when it cannot be told.</summary>
    private static int Position<TArgs>(RemoteStub stub, TArgs arguments, object? root)
    {
        if (stub.ArgumentCount == 1)
        {
            return 0;
        }

        if (arguments is ITuple tuple && tuple.Length == stub.ArgumentCount)
        {
            for (var i = 0; i < tuple.Length; i++)
            {
                if (tuple[i] is { } argument && (ReferenceEquals(argument, root) || (argument.GetType().IsValueType && argument.Equals(root))))
                {
                    return i;
                }
            }
        }

        return -1;
    }
}
