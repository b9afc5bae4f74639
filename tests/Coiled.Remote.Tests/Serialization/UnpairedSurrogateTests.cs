namespace Coiled.Remote.Tests.Serialization;

/// <summary>
/// A string with half of a two-char character (an unpaired surrogate) cannot travel as UTF-8 and would arrive with
/// U+FFFD in its place; it is refused wherever it is, and whole characters, emoji included, travel as they are.
/// </summary>
public sealed class UnpairedSurrogateTests
{
    private const string Why =
        "half of a character that UTF-8, which strings travel as, cannot carry: it would arrive as U+FFFD. " +
        "Pass the text whole, or as a char[] or its UTF-16 bytes if it is not text.";

    [Fact]
    public void Write_StringEndingInHalfAnEmoji_RefusedNamingTheIndex()
    {
        var cut = "smile \uD83D\uDE00".Substring(0, 7);

        Wire.Refusal(cut).Describe("Argument 's' of Jobs.Echo", "parameter").Should()
            .Be($"Argument 's' of Jobs.Echo cannot be serialized: the string has an unpaired surrogate (\\uD83D) at index 6, {Why}");
    }

    [Fact]
    public void Write_UnpairedSurrogateInAMemberAStringArrayOrAnObject_Refused()
    {
        Wire.Refusal(new Note("a\uDC00")).Describe("The result", "return type").Should()
            .Be($"The result cannot be serialized at Note.Text: the string has an unpaired surrogate (\\uDC00) at index 1, {Why}");
        Wire.Refusal(new[] { "fine", "\uD800" }).Describe("x", "parameter").Should().Contain("unpaired surrogate (\\uD800) at index 0");
        Wire.Refusal<object>("\uD800x").Describe("x", "parameter").Should().Contain("unpaired surrogate (\\uD800) at index 0");
        Wire.Refusal(new object[] { 1, "x\uDFFF" }).Describe("x", "parameter").Should()
            .StartWith("x cannot be serialized at object[][1]: the string has an unpaired surrogate (\\uDFFF) at index 1");
    }

    [Fact]
    public void RoundTrip_WholeCharactersEmojiAndNull_ArriveAsTheyWere()
    {
        Wire.RoundTrip("smile \uD83D\uDE00, ünïcödé").Should().Be("smile \uD83D\uDE00, ünïcödé");
        Wire.RoundTrip(new[] { "\uD83D\uDE00", null, "" }).Should().Equal("\uD83D\uDE00", null, "");
        Wire.RoundTrip(new Note(null)).Text.Should().BeNull();
        Wire.RoundTrip(new[] { '\uD800' }).Should().Equal('\uD800');
    }

    public sealed record Note(string? Text);
}
