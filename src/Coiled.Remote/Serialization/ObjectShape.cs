using System.Reflection;
using System.Runtime.Serialization;
using MessagePack;

namespace Coiled.Remote.Serialization;

/// <summary>
/// How a class or struct without MessagePack attributes travels. Its state is its public fields and the public
/// properties that store a value (a setter of any kind, or a get-only auto-property); MessagePack's contractless
/// formatter writes only those it can set again, through a public setter or a constructor parameter of the same name,
/// and silently drops the rest (<c>{ get; private set; }</c>, get-only auto-properties). Such types are written member
/// by member instead (<see cref="MemberwiseFormatter{T}"/>). A class with no constructor the reader could call is refused,
/// and so is a type whose non-public fields hold state that nothing would set again (<see cref="HiddenState"/>).
/// </summary>
internal sealed class ObjectShape
{
    private const BindingFlags Instance = BindingFlags.Public | BindingFlags.Instance;

    private ObjectShape(Verdict kind, IReadOnlyList<ShapeMember> members, ConstructorInfo? constructor, int[] constructorMembers, string refusal)
    {
        Kind = kind;
        Members = members;
        Constructor = constructor;
        ConstructorMembers = constructorMembers;
        Refusal = refusal;
    }

    public enum Verdict
    {
        /// <summary>MessagePack's contractless formatter keeps every member.</summary>
        Contractless,

        /// <summary>Some members need a non-public setter, a backing field or a non-public constructor: <see cref="MemberwiseFormatter{T}"/>.</summary>
        Memberwise,

        /// <summary>The reader could not create the type: see <see cref="Refusal"/>.</summary>
        Refused,

        /// <summary>Non-public state would not travel (<see cref="HiddenState"/>): see <see cref="Refusal"/>.</summary>
        LosesState,
    }

    public Verdict Kind { get; }

    /// <summary>For <see cref="Verdict.Memberwise"/>: the members written, those that can be set and those the constructor takes.</summary>
    public IReadOnlyList<ShapeMember> Members { get; }

    /// <summary>For <see cref="Verdict.Memberwise"/>: the constructor the reader calls; null for a struct, which starts as its default.</summary>
    public ConstructorInfo? Constructor { get; }

    /// <summary>For each parameter of <see cref="Constructor"/>, the index of its member in <see cref="Members"/>.</summary>
    public int[] ConstructorMembers { get; }

    /// <summary>For <see cref="Verdict.Refused"/> and <see cref="Verdict.LosesState"/>: why, and what to change.</summary>
    public string Refusal { get; }

    public static ObjectShape Of(Type type)
    {
        var readable = ReadableMembers(type);
        var constructor = FindConstructor(type, readable, nonPublic: false);
        ObjectShape shape;
        if (constructor is null && !type.IsValueType)
        {
            // MessagePack would fail on this class; non-public constructors may do.
            constructor = FindConstructor(type, readable, nonPublic: true);
            if (constructor is null)
            {
                return new ObjectShape(Verdict.Refused, [], null, [], NoConstructor(type, readable));
            }

            shape = Memberwise(readable, constructor);
        }
        else
        {
            var passed = constructor?.Members.Select(i => readable[i]).ToHashSet() ?? [];
            shape = readable.Any(m => m.Settable && !m.PubliclySettable && !passed.Contains(m))
                ? Memberwise(readable, constructor)
                : new ObjectShape(Verdict.Contractless, [], null, [], string.Empty);
        }

        // What the reader sets: the members that can be set or that the constructor takes, and its parameters.
        var restored = readable.Where((m, i) => m.Settable || (constructor?.Members.Contains(i) ?? false)).Select(m => m.Name)
            .Concat(constructor?.Constructor.GetParameters().Select(p => p.Name ?? string.Empty) ?? []);
        return HiddenState.Describe(type, restored) is { } lost
            ? new ObjectShape(Verdict.LosesState, [], null, [], lost)
            : shape;
    }

    private static ObjectShape Memberwise(List<ShapeMember> readable, (ConstructorInfo Constructor, int[] Members)? constructor)
    {
        var passed = constructor?.Members ?? [];
        var written = readable.Where((m, i) => m.Settable || passed.Contains(i)).ToList();
        var indexes = passed.Select(i => written.IndexOf(readable[i])).ToArray();
        return new ObjectShape(Verdict.Memberwise, written, constructor?.Constructor, indexes, string.Empty);
    }

    /// <summary>
    /// Public instance fields and public-getter properties, as MessagePack sees them: without indexers, members marked
    /// [IgnoreMember], [IgnoreDataMember] or [NonSerialized], and with the most derived of members hidden with <c>new</c>.
    /// </summary>
    private static List<ShapeMember> ReadableMembers(Type type)
    {
        var members = new Dictionary<string, (MemberInfo Info, ShapeMember Member)>(StringComparer.Ordinal);
        var candidates = type.GetProperties(Instance).Where(p => p.GetMethod is { IsPublic: true } && p.GetIndexParameters().Length == 0)
            .Cast<MemberInfo>()
            .Concat(type.GetFields(Instance))
            .Where(m => !m.IsDefined(typeof(IgnoreMemberAttribute), true) && !m.IsDefined(typeof(IgnoreDataMemberAttribute), true) && !m.IsDefined(typeof(NonSerializedAttribute), true));
        foreach (var member in candidates)
        {
            if (members.TryGetValue(member.Name, out var known) && !member.DeclaringType!.IsSubclassOf(known.Info.DeclaringType!))
            {
                continue;
            }

            members[member.Name] = (member, member is PropertyInfo property ? ShapeMember.ForProperty(property) : ShapeMember.ForField((FieldInfo)member));
        }

        return [.. members.Values.Select(m => m.Member)];
    }

    /// <summary>
    /// The constructor MessagePack would pick: the one marked [SerializationConstructor], else the first, most
    /// parameters first, whose every parameter is named like a member (ignoring case) of a type it accepts.
    /// </summary>
    private static (ConstructorInfo Constructor, int[] Members)? FindConstructor(Type type, List<ShapeMember> readable, bool nonPublic)
    {
        var declared = type.GetConstructors(BindingFlags.Instance | BindingFlags.Public | (nonPublic ? BindingFlags.NonPublic : 0));
        var marked = declared.Where(c => c.IsDefined(typeof(SerializationConstructorAttribute), false)).ToList();
        foreach (var constructor in marked.Count > 0 ? marked : [.. declared.OrderByDescending(c => c.GetParameters().Length)])
        {
            var parameters = constructor.GetParameters();
            var members = parameters
                .Select(p => readable.FindIndex(m => string.Equals(m.Name, p.Name, StringComparison.OrdinalIgnoreCase) && p.ParameterType.IsAssignableFrom(m.Type)))
                .ToArray();
            if (members.All(i => i >= 0))
            {
                return (constructor, members);
            }
        }

        return null;
    }

    private static string NoConstructor(Type type, List<ShapeMember> readable)
    {
        var parameters = string.Join(", ", readable.Select(m => $"{TypeNames.Of(m.Type)} {char.ToLowerInvariant(m.Name[0])}{m.Name[1..]}"));
        return $"{TypeNames.Of(type)} has no parameterless constructor and no constructor whose parameters are all named like its public properties. " +
            $"Add a constructor whose parameters match the properties by name, {TypeNames.Of(type)}({parameters}), or a parameterless one (it may be private).";
    }
}
