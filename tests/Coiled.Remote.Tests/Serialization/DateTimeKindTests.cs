namespace Coiled.Remote.Tests.Serialization;

/// <summary>DateTime values keep their Kind and their value wherever they sit in an argument or result.</summary>
public sealed class DateTimeKindTests
{
    public static TheoryData<DateTimeKind> Kinds => [DateTimeKind.Utc, DateTimeKind.Local, DateTimeKind.Unspecified];

    [Theory]
    [MemberData(nameof(Kinds))]
    public void RoundTrip_DateTime_KeepsKindAndValue(DateTimeKind kind)
    {
        var value = new DateTime(2024, 1, 2, 7, 8, 9, kind).AddTicks(1234567);

        var back = Wire.RoundTrip(value);

        back.Kind.Should().Be(kind);
        back.Ticks.Should().Be(value.Ticks);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void RoundTrip_NullableArrayListDictionaryAndRecordMember_KeepKindAndValue(DateTimeKind kind)
    {
        var value = new DateTime(2024, 1, 2, 7, 8, 9, kind);

        Same(Wire.RoundTrip<DateTime?>(value)!.Value, value);
        Wire.RoundTrip<DateTime?>(null).Should().BeNull();
        Wire.RoundTrip(new[] { value, value.AddDays(1) }).Should().SatisfyRespectively(a => Same(a, value), b => Same(b, value.AddDays(1)));
        Same(Wire.RoundTrip(new List<DateTime> { value })[0], value);
        Same(Wire.RoundTrip(new Dictionary<string, DateTime> { ["at"] = value })["at"], value);
        Same(Wire.RoundTrip(new Meeting("m", value, [value])).At, value);
        Same(Wire.RoundTrip(new Meeting("m", value, [value])).Others[0], value);
        Same(Wire.RoundTrip((value, 1)).Item1, value);
    }

    private static void Same(DateTime actual, DateTime expected)
    {
        actual.Kind.Should().Be(expected.Kind);
        actual.Ticks.Should().Be(expected.Ticks);
    }

    public sealed record Meeting(string Name, DateTime At, List<DateTime> Others);
}
