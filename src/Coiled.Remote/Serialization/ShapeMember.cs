using System.Reflection;

namespace Coiled.Remote.Serialization;

/// <summary>
/// A public property or field that carries part of an object's state (see <see cref="ObjectShape"/>), and how to set
/// it again on the other side: a public or non-public setter, the compiler's backing field of a get-only
/// auto-property, or the field itself, read-only or not.
/// </summary>
internal sealed class ShapeMember
{
    private ShapeMember(string name, Type type, MemberInfo source, MemberInfo? target, bool publiclySettable)
    {
        Name = name;
        Type = type;
        Source = source;
        Target = target;
        PubliclySettable = publiclySettable;
    }

    public string Name { get; }

    public Type Type { get; }

    /// <summary>What the value is read from: the public property or field.</summary>
    public MemberInfo Source { get; }

    /// <summary>What the value is set through after construction: a property with a setter of any kind, a backing field or the field; null when none.</summary>
    public MemberInfo? Target { get; }

    /// <summary>Whether the member can be set after construction.</summary>
    public bool Settable => Target is not null;

    /// <summary>Whether MessagePack's contractless formatter can set it: a public setter (or init), or a public writable field.</summary>
    public bool PubliclySettable { get; }

    /// <summary>A public instance property with a public getter: settable when it has a setter of any kind or an auto-property's backing field.</summary>
    public static ShapeMember ForProperty(PropertyInfo property)
    {
        // The declaring type's own view of the property sees a base class's private setter, which a derived type's view does not.
        const BindingFlags Own = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.DeclaredOnly;
        var declaring = property.DeclaringType!;
        var own = declaring.GetProperty(property.Name, Own) ?? property;
        var setter = own.GetSetMethod(nonPublic: true);
        MemberInfo? target = setter is not null ? own : declaring.GetField($"<{property.Name}>k__BackingField", Own);
        return new ShapeMember(property.Name, property.PropertyType, property, target, publiclySettable: setter is { IsPublic: true });
    }

    /// <summary>A public instance field; a read-only one can still be set after construction, as reflection can.</summary>
    public static ShapeMember ForField(FieldInfo field) => new(field.Name, field.FieldType, field, field, publiclySettable: !field.IsInitOnly);
}
