using System.Text;
using MessagePack;
using MessagePack.Formatters;

namespace Coiled.Remote.Serialization;

/// <summary>
/// Strings, written as MessagePack's own formatter writes them, except one that is not valid UTF-16: MessagePack
/// writes strings as UTF-8, which cannot carry an unpaired surrogate (half of a character made of two, such as
/// an emoji cut in two), and would put U+FFFD in its place. Such a string is refused, saying where.
/// </summary>
internal sealed class StringFormatter : IMessagePackFormatter<string?>
{
    public static readonly StringFormatter Instance = new();

    private StringFormatter()
    {
    }

    public void Serialize(ref MessagePackWriter writer, string? value, MessagePackSerializerOptions options)
    {
        if (value is not null && UnpairedSurrogateAt(value) is var at and >= 0)
        {
            throw UnsendableValueException.Unserializable(new ArgumentException(
                $"the string has an unpaired surrogate (\\u{(int)value[at]:X4}) at index {at}, half of a character that UTF-8, which strings " +
                "travel as, cannot carry: it would arrive as U+FFFD. Pass the text whole, or as a char[] or its UTF-16 bytes if it is not text."))
                .At(value, typeof(string));
        }

        writer.Write(value);
    }

    public string? Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options) => reader.ReadString();

    /// <summary>The index of the first surrogate that is not half of a pair; -1 when there is none (the usual case, found by a vectorized search).</summary>
    private static int UnpairedSurrogateAt(string value)
    {
        var start = value.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF');
        if (start < 0)
        {
            return -1;
        }

        for (var i = start; i < value.Length; i++)
        {
            if (char.IsHighSurrogate(value[i]) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(value[i]))
            {
                return i;
            }
        }

        return -1;
    }
}
