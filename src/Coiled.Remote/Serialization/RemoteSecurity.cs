using MessagePack;

namespace Coiled.Remote.Serialization;

/// <summary>
/// MessagePack's settings for untrusted data (a depth limit, collision-resistant hashing of the keys it knows), with
/// one difference: keys of types it has no collision-resistant comparer for (records, tuples, structs, enums of a
/// nullable kind) are compared as the collection compares them in the caller's process, with
/// <see cref="EqualityComparer{T}.Default"/>. MessagePack would refuse to read such a dictionary or set at all, after
/// the caller had sent it; the peers are authenticated to each other, so the other side is not an attacker crafting
/// colliding keys.
/// </summary>
internal sealed class RemoteSecurity : MessagePackSecurity
{
    public RemoteSecurity(int maximumObjectGraphDepth)
        : base(UntrustedData.WithMaximumObjectGraphDepth(maximumObjectGraphDepth))
    {
    }

    private RemoteSecurity(MessagePackSecurity copyFrom)
        : base(copyFrom)
    {
    }

    protected override MessagePackSecurity Clone() => new RemoteSecurity(this);

    protected override IEqualityComparer<T> GetHashCollisionResistantEqualityComparer<T>()
        => KnownComparer<T>.Resistant ?? EqualityComparer<T>.Default;

    /// <summary>MessagePack's collision-resistant comparer for <typeparamref name="T"/>, or null when it has none; asked once per type.</summary>
    private static class KnownComparer<T>
    {
        public static readonly IEqualityComparer<T>? Resistant = Find();

        private static IEqualityComparer<T>? Find()
        {
            try
            {
                return UntrustedData.GetEqualityComparer<T>();
            }
            catch (TypeAccessException)
            {
                return null;
            }
        }
    }
}
