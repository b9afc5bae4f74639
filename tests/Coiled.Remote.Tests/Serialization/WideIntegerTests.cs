using System.Numerics;

namespace Coiled.Remote.Tests.Serialization;

/// <summary>BigInteger, Int128 and UInt128 arrive as the same numbers, alone, nullable, in collections and in records.</summary>
public sealed class WideIntegerTests
{
    public static readonly TheoryData<string> BigIntegers = ["0", "-1", "255", "-128", "1152921504606846977", "-340282366920938463463374607431768211457"];

    [Theory]
    [MemberData(nameof(BigIntegers))]
    public void RoundTrip_BigInteger_IsTheSameNumber(string text)
    {
        var value = BigInteger.Parse(text, System.Globalization.CultureInfo.InvariantCulture);

        Wire.RoundTrip(value).Should().Be(value);
    }

    [Fact]
    public void RoundTrip_BigIntegerOfThousandsOfDigits_IsTheSameNumber()
    {
        var value = BigInteger.Pow(3, 20_000) * -1;

        Wire.RoundTrip(value).Should().Be(value);
    }

    [Fact]
    public void RoundTrip_Int128AndUInt128AtTheirLimits_AreTheSameNumbers()
    {
        Wire.RoundTrip(Int128.MaxValue).Should().Be(Int128.MaxValue);
        Wire.RoundTrip(Int128.MinValue).Should().Be(Int128.MinValue);
        Wire.RoundTrip((Int128)(-5)).Should().Be((Int128)(-5));
        Wire.RoundTrip(UInt128.MaxValue).Should().Be(UInt128.MaxValue);
    }

    [Fact]
    public void RoundTrip_WideIntegersNullableInListsAndRecords_AreTheSame()
    {
        var ledger = new Ledger(BigInteger.Pow(10, 40), Int128.MinValue, [UInt128.MaxValue, 0], null);

        var back = Wire.RoundTrip(ledger);

        back.Total.Should().Be(ledger.Total);
        back.Low.Should().Be(Int128.MinValue);
        back.Counts.Should().Equal(UInt128.MaxValue, UInt128.Zero);
        back.Pending.Should().BeNull();
        Wire.RoundTrip<BigInteger?>(BigInteger.MinusOne).Should().Be(BigInteger.MinusOne);
    }

    public sealed record Ledger(BigInteger Total, Int128 Low, List<UInt128> Counts, Int128? Pending);
}
