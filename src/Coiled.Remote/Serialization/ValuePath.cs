using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text;

namespace Coiled.Remote.Serialization;

/// <summary>
/// Where a value sits inside an argument or a result, for error messages: <c>Order.Lines[3].Product</c>. Built from
/// the values an <see cref="UnsendableValueException"/> passed on its way out, outermost first; the name of each step
/// is found by looking, in the step before it, for the member, index or key that holds it. Only errors pay for this.
/// </summary>
internal sealed class ValuePath(IReadOnlyList<ValuePath.Step> steps)
{
    /// <summary>Paths longer than this show their start and end only.</summary>
    private const int MaxShownSteps = 10;

    public int Count => steps.Count;

    /// <summary>
    /// Finds the first object that holds itself: the step <paramref name="at"/> is the same object as the earlier step
    /// <paramref name="back"/>.
    /// </summary>
    public bool FindCycle(out int at, out int back)
    {
        var seen = new Dictionary<object, int>(ReferenceEqualityComparer.Instance);
        for (var i = 0; i < steps.Count; i++)
        {
            if (steps[i].Value is not { } value || value.GetType().IsValueType)
            {
                continue;
            }

            if (seen.TryGetValue(value, out back))
            {
                at = i;
                return true;
            }

            seen.Add(value, i);
        }

        at = back = -1;
        return false;
    }

    /// <summary>The path from the root to step <paramref name="end"/>: the root's type name, then a member, index or key per step.</summary>
    public string Render(int end)
    {
        var text = new StringBuilder(TypeNames.Of(steps[0].Value?.GetType() ?? steps[0].Declared));
        if (end <= MaxShownSteps)
        {
            for (var i = 1; i <= end; i++)
            {
                text.Append(Name(i));
            }

            return text.ToString();
        }

        for (var i = 1; i <= MaxShownSteps - 3; i++)
        {
            text.Append(Name(i));
        }

        text.Append('…');
        for (var i = end - 1; i <= end; i++)
        {
            text.Append(Name(i));
        }

        return text.Append(CultureInfo.InvariantCulture, $" ({end} levels down)").ToString();
    }

    /// <summary>How step <paramref name="index"/> is reached from the step before it: <c>.Next</c>, <c>[3]</c>, <c>["key"]</c>.</summary>
    private string Name(int index)
    {
        var parent = steps[index - 1].Value;
        var child = steps[index].Value;
        try
        {
            switch (parent)
            {
                case IDictionary dictionary:
                    foreach (DictionaryEntry entry in dictionary)
                    {
                        if (Same(entry.Value, child) || Same(entry.Key, child))
                        {
                            return $"[{Key(entry.Key)}]";
                        }
                    }

                    break;
                case IEnumerable items and not string:
                    var position = 0;
                    foreach (var item in items)
                    {
                        if (Same(item, child))
                        {
                            return string.Create(CultureInfo.InvariantCulture, $"[{position}]");
                        }

                        position++;
                    }

                    break;
                case not null:
                    foreach (var member in parent.GetType().GetMembers(BindingFlags.Public | BindingFlags.Instance))
                    {
                        if (Read(member, parent, out var value) && Same(value, child))
                        {
                            return "." + member.Name;
                        }
                    }

                    break;
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or TargetInvocationException or NotSupportedException)
        {
            // The collection changed or a getter threw while the message was being written: the step is shown by type.
        }

        return $"→{TypeNames.Of(child?.GetType() ?? steps[index].Declared)}";
    }

    private static bool Read(MemberInfo member, object owner, out object? value)
    {
        switch (member)
        {
            case PropertyInfo { CanRead: true } property when property.GetIndexParameters().Length == 0 && property.GetMethod!.IsPublic:
                value = property.GetValue(owner);
                return true;
            case FieldInfo field:
                value = field.GetValue(owner);
                return true;
            default:
                value = null;
                return false;
        }
    }

    /// <summary>Whether a member's value is the step's value: the same object, or an equal copy of a struct.</summary>
    private static bool Same(object? candidate, object? value)
        => candidate is not null && (ReferenceEquals(candidate, value) || (candidate.GetType().IsValueType && candidate.Equals(value)));

    private static string Key(object key) => key is string text ? $"\"{text}\"" : Convert.ToString(key, CultureInfo.InvariantCulture) ?? "?";

    /// <summary>One value on the way from the root to the one that failed, and the type it was written as.</summary>
    public readonly record struct Step(object? Value, Type Declared);
}
