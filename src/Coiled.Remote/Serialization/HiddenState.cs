using System.Reflection;
using System.Runtime.Serialization;
using MessagePack;

namespace Coiled.Remote.Serialization;

/// <summary>
/// State of a class or struct that would not travel: its non-public instance fields (those of its base classes too),
/// non-public auto-properties included, that nothing on the other side sets again, and the handlers of its events. A field is set again when it is the
/// backing field of a member that travels, or is named like one (<c>_count</c> for <c>Count</c>), or like a parameter of
/// the constructor the reader calls (<c>_name</c>, or the compiler's capture of a primary constructor's <c>name</c>).
/// Whatever else such a field holds would be lost: <c>private readonly List&lt;int&gt; _items</c> behind
/// <c>public IReadOnlyList&lt;int&gt; Items =&gt; _items</c> would arrive empty. Fields and properties marked
/// [NonSerialized], [IgnoreMember] or [IgnoreDataMember] are meant to stay behind.
/// </summary>
internal static class HiddenState
{
    private const BindingFlags Hidden = BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.DeclaredOnly;

    /// <summary>Most members a message names; the rest are counted.</summary>
    private const int MaxNamed = 4;

    /// <summary>Why <paramref name="type"/> would arrive without part of its state, naming it; null when nothing is lost.</summary>
    /// <param name="type">The class or struct.</param>
    /// <param name="restored">The names of the members and constructor parameters the reader sets.</param>
    public static string? Describe(Type type, IEnumerable<string> restored)
    {
        var names = new HashSet<string>(restored, StringComparer.OrdinalIgnoreCase);
        var lost = new List<(string Kind, string Name)>();
        for (var current = type; current is not null && current != typeof(object) && current != typeof(ValueType); current = current.BaseType)
        {
            foreach (var field in current.GetFields(Hidden))
            {
                var property = BackedProperty(current, field);
                if (StaysBehind(field) || (property is not null && StaysBehind(property)) || names.Contains(BareName(field.Name))
                    || IsEvent(current, field))
                {
                    continue;
                }

                lost.Add(property is not null ? ("property", property.Name) : ("field", field.Name));
            }
        }

        return lost.Count == 0 ? null : Sentence(TypeNames.Of(type), lost);
    }

    /// <summary>
    /// The fields of the type's field-like events, which hold their handlers: an event without handlers travels as one
    /// (there is nothing to lose), one with handlers is refused as it is written (<see cref="SubscriptionCheckFormatter{T}"/>).
    /// </summary>
    public static IReadOnlyList<FieldInfo> Events(Type type)
    {
        var events = new List<FieldInfo>();
        for (var current = type; current is not null && current != typeof(object) && current != typeof(ValueType); current = current.BaseType)
        {
            events.AddRange(current.GetFields(Hidden).Where(field => IsEvent(current, field) && !StaysBehind(field)));
        }

        return events;
    }

    private static bool IsEvent(Type declaring, FieldInfo field)
        => typeof(Delegate).IsAssignableFrom(field.FieldType) && declaring.GetEvent(field.Name, Hidden | BindingFlags.Public) is not null;

    private static string Sentence(string type, List<(string Kind, string Name)> lost)
    {
        var named = lost.Take(MaxNamed).Select(m => $"{m.Kind} {m.Name}").ToList();
        var list = lost.Count > MaxNamed
            ? $"{string.Join(", ", named)} and {lost.Count - MaxNamed} more"
            : named.Count == 1 ? named[0] : $"{string.Join(", ", named.Take(named.Count - 1))} and {named[^1]}";
        var it = lost.Count == 1 ? "it" : "them";
        var marks = new[] { ("field", "[NonSerialized]"), ("property", "[IgnoreMember]") }
            .Where(mark => lost.Any(m => m.Kind == mark.Item1))
            .Select(mark => lost.Any(m => m.Kind != mark.Item1) ? $"{mark.Item2} on a {mark.Item1}" : mark.Item2);
        return $"{type} keeps state in non-public {list}, which would not travel, so {type} would arrive without {it}. " +
            "Make that state a public property (its setter may be private) or a constructor parameter named like one; " +
            $"if it need not travel, mark {it} {string.Join(" or ", marks)}.";
    }

    /// <summary>The property whose compiler-made backing field <paramref name="field"/> is (<c>&lt;Name&gt;k__BackingField</c>), if any.</summary>
    private static PropertyInfo? BackedProperty(Type declaring, FieldInfo field)
        => field.Name.StartsWith('<') && field.Name.EndsWith(">k__BackingField", StringComparison.Ordinal)
            ? declaring.GetProperty(BareName(field.Name), Hidden | BindingFlags.Public)
            : null;

    /// <summary><c>Count</c> of <c>&lt;Count&gt;k__BackingField</c>, <c>name</c> of <c>&lt;name&gt;P</c>, <c>count</c> of <c>_count</c> or <c>m_count</c>.</summary>
    private static string BareName(string name)
    {
        if (name.StartsWith('<') && name.IndexOf('>', StringComparison.Ordinal) is var end and > 1)
        {
            return name[1..end];
        }

        return name.StartsWith("m_", StringComparison.Ordinal) ? name[2..] : name.TrimStart('_');
    }

    private static bool StaysBehind(MemberInfo member)
        => member.IsDefined(typeof(NonSerializedAttribute), true)
            || member.IsDefined(typeof(IgnoreMemberAttribute), true)
            || member.IsDefined(typeof(IgnoreDataMemberAttribute), true);
}
