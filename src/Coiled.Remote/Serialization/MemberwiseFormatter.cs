using System.Buffers;
using System.Text;
using MessagePack;
using MessagePack.Formatters;

namespace Coiled.Remote.Serialization;

/// <summary>
/// Writes an object as a map of its members by name, as MessagePack's contractless formatter does, for the types that
/// formatter would lose state of (see <see cref="ObjectShape"/>): the reader calls the shape's constructor, public or
/// not, with the members it takes, then sets the others through whatever setter or field they have.
/// </summary>
internal sealed class MemberwiseFormatter<T> : IMessagePackFormatter<T>
{
    private readonly ObjectShape _shape;

    /// <summary>Per member, its name as a MessagePack string (written as it is), and as UTF-8 (matched when read).</summary>
    private readonly byte[][] _keys;
    private readonly byte[][] _names;
    private readonly BoxedCodec[] _codecs;
    private readonly Func<object, object?>[] _getters;

    /// <summary>Per member, how it is set after construction; null for the members the constructor takes.</summary>
    private readonly Action<object, object?>?[] _setters;

    private readonly Func<object?[], object> _create;

    /// <summary>Per constructor parameter, what it gets when the map lacks its member: null, or the default of a value type.</summary>
    private readonly object?[] _defaults;

    public MemberwiseFormatter(ObjectShape shape)
    {
        _shape = shape;
        var members = shape.Members;
        _keys = [.. members.Select(m => MessagePackSerializer.Serialize(m.Name))];
        _names = [.. members.Select(m => Encoding.UTF8.GetBytes(m.Name))];
        _codecs = [.. members.Select(m => BoxedCodec.For(m.Type))];
        _getters = [.. members.Select(m => MemberAccessors.Getter(m.Source))];
        _setters = [.. members.Select((m, i) => m.Target is null || shape.ConstructorMembers.Contains(i) ? null : MemberAccessors.Setter(m.Target))];
        _create = MemberAccessors.Creator(typeof(T), shape.Constructor);
        _defaults = [.. (shape.Constructor?.GetParameters() ?? []).Select(p => p.ParameterType.IsValueType ? Activator.CreateInstance(p.ParameterType) : null)];
    }

    public void Serialize(ref MessagePackWriter writer, T value, MessagePackSerializerOptions options)
    {
        if (value is null)
        {
            writer.WriteNil();
            return;
        }

        object instance = value;
        writer.WriteMapHeader(_getters.Length);
        for (var i = 0; i < _getters.Length; i++)
        {
            writer.WriteRaw(_keys[i]);
            _codecs[i].Write(ref writer, _getters[i](instance), options);
        }
    }

    public T Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
    {
        if (reader.TryReadNil())
        {
            return default!;
        }

        options.Security.DepthStep(ref reader);
        try
        {
            var values = new object?[_getters.Length];
            var present = new bool[values.Length];
            var count = reader.ReadMapHeader();
            for (var i = 0; i < count; i++)
            {
                if (IndexOf(ref reader) is var index and >= 0)
                {
                    values[index] = _codecs[index].Read(ref reader, options);
                    present[index] = true;
                }
                else
                {
                    reader.Skip();
                }
            }

            var arguments = new object?[_defaults.Length];
            for (var i = 0; i < arguments.Length; i++)
            {
                // A member missing from the map is passed as its type's default, as MessagePack does.
                var member = _shape.ConstructorMembers[i];
                arguments[i] = present[member] ? values[member] : _defaults[i];
            }

            var instance = _create(arguments);
            for (var i = 0; i < values.Length; i++)
            {
                if (present[i] && _setters[i] is { } set)
                {
                    set(instance, values[i]);
                }
            }

            return (T)instance;
        }
        finally
        {
            reader.Depth--;
        }
    }

    /// <summary>Reads a key and returns the index of its member; -1 for a key no member has.</summary>
    private int IndexOf(ref MessagePackReader reader)
    {
        ReadOnlySpan<byte> name;
        if (!reader.TryReadStringSpan(out name))
        {
            name = reader.ReadStringSequence() is { } sequence ? sequence.ToArray() : [];
        }

        for (var i = 0; i < _names.Length; i++)
        {
            if (name.SequenceEqual(_names[i]))
            {
                return i;
            }
        }

        return -1;
    }
}
