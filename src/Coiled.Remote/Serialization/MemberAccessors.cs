using System.Reflection;
using System.Reflection.Emit;

namespace Coiled.Remote.Serialization;

/// <summary>
/// Compiled access to members and constructors, public or not, for <see cref="MemberwiseFormatter{T}"/>: getters,
/// setters (a read-only field too, such as an auto-property's backing field), and a constructor taking its arguments
/// as an array. Values are boxed; an instance of a struct is its box, changed in place.
/// </summary>
internal static class MemberAccessors
{
    public static Func<object, object?> Getter(MemberInfo member)
    {
        var owner = member.DeclaringType!;
        var method = new DynamicMethod($"get_{member.Name}", typeof(object), [typeof(object)], owner, skipVisibility: true);
        var il = method.GetILGenerator();
        LoadInstance(il, owner);
        var type = Load(il, member);
        if (type.IsValueType)
        {
            il.Emit(OpCodes.Box, type);
        }

        il.Emit(OpCodes.Ret);
        return method.CreateDelegate<Func<object, object?>>();
    }

    /// <summary>Sets <paramref name="member"/>: a property through its setter of any visibility, a field directly.</summary>
    public static Action<object, object?> Setter(MemberInfo member)
    {
        var owner = member.DeclaringType!;
        var method = new DynamicMethod($"set_{member.Name}", null, [typeof(object), typeof(object)], owner, skipVisibility: true);
        var il = method.GetILGenerator();
        LoadInstance(il, owner);
        il.Emit(OpCodes.Ldarg_1);
        switch (member)
        {
            case PropertyInfo property:
                il.Emit(OpCodes.Unbox_Any, property.PropertyType);
                Call(il, property.GetSetMethod(nonPublic: true)!);
                break;
            case FieldInfo field:
                il.Emit(OpCodes.Unbox_Any, field.FieldType);
                il.Emit(OpCodes.Stfld, field);
                break;
        }

        il.Emit(OpCodes.Ret);
        return method.CreateDelegate<Action<object, object?>>();
    }

    /// <summary>Creates a <paramref name="type"/> with <paramref name="constructor"/>, or as a struct's default when it is null.</summary>
    public static Func<object?[], object> Creator(Type type, ConstructorInfo? constructor)
    {
        var method = new DynamicMethod($"new_{type.Name}", typeof(object), [typeof(object?[])], type, skipVisibility: true);
        var il = method.GetILGenerator();
        if (constructor is null)
        {
            var local = il.DeclareLocal(type);
            il.Emit(OpCodes.Ldloca, local);
            il.Emit(OpCodes.Initobj, type);
            il.Emit(OpCodes.Ldloc, local);
        }
        else
        {
            var parameters = constructor.GetParameters();
            for (var i = 0; i < parameters.Length; i++)
            {
                il.Emit(OpCodes.Ldarg_0);
                il.Emit(OpCodes.Ldc_I4, i);
                il.Emit(OpCodes.Ldelem_Ref);
                il.Emit(OpCodes.Unbox_Any, parameters[i].ParameterType);
            }

            il.Emit(OpCodes.Newobj, constructor);
        }

        if (type.IsValueType)
        {
            il.Emit(OpCodes.Box, type);
        }

        il.Emit(OpCodes.Ret);
        return method.CreateDelegate<Func<object?[], object>>();
    }

    /// <summary>The instance from argument 0: the object itself, or the address of the struct in its box.</summary>
    private static void LoadInstance(ILGenerator il, Type owner)
    {
        il.Emit(OpCodes.Ldarg_0);
        il.Emit(owner.IsValueType ? OpCodes.Unbox : OpCodes.Castclass, owner);
    }

    private static Type Load(ILGenerator il, MemberInfo member)
    {
        switch (member)
        {
            case PropertyInfo property:
                Call(il, property.GetGetMethod(nonPublic: true)!);
                return property.PropertyType;
            default:
                var field = (FieldInfo)member;
                il.Emit(OpCodes.Ldfld, field);
                return field.FieldType;
        }
    }

    private static void Call(ILGenerator il, MethodInfo method)
        => il.Emit(method.IsVirtual && !method.DeclaringType!.IsValueType ? OpCodes.Callvirt : OpCodes.Call, method);
}
