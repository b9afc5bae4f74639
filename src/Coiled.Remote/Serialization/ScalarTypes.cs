using System.Numerics;

namespace Coiled.Remote.Serialization;

/// <summary>
/// Types whose MessagePack formatters write a value without asking for other formatters, so nothing can nest in them:
/// <see cref="RemoteResolver"/> leaves their formatters unguarded (the paths of primitives, strings and <c>byte[]</c>
/// cost nothing more), and so it does for arrays, lists, sets and dictionaries of them.
/// </summary>
internal static class ScalarTypes
{
    private static readonly HashSet<Type> Scalars =
    [
        typeof(string), typeof(byte[]), typeof(decimal), typeof(DateTime), typeof(DateTimeOffset), typeof(TimeSpan), typeof(Guid),
        typeof(DateOnly), typeof(TimeOnly), typeof(Uri), typeof(Version), typeof(BigInteger), typeof(Half), typeof(Int128), typeof(UInt128),
    ];

    private static readonly HashSet<Type> Collections =
    [
        typeof(List<>), typeof(HashSet<>), typeof(Dictionary<,>),
        typeof(IEnumerable<>), typeof(ICollection<>), typeof(IList<>), typeof(ISet<>), typeof(IReadOnlyCollection<>), typeof(IReadOnlyList<>),
        typeof(IDictionary<,>), typeof(IReadOnlyDictionary<,>),
    ];

    public static bool IsScalarOrCollectionOfScalars(Type type)
    {
        if (IsScalar(type))
        {
            return true;
        }

        if (type.IsArray)
        {
            return type.GetArrayRank() == 1 && IsScalar(type.GetElementType()!);
        }

        return type.IsGenericType && Collections.Contains(type.GetGenericTypeDefinition()) && type.GetGenericArguments().All(IsScalar);
    }

    private static bool IsScalar(Type type)
        => type.IsPrimitive || type.IsEnum || Scalars.Contains(type) || (Nullable.GetUnderlyingType(type) is { } underlying && IsScalar(underlying));
}
