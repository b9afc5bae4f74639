using Coiled.Remote.Serialization;
using MessagePack;

namespace Coiled.Remote.Tests.Serialization;

/// <summary>
/// Public properties with non-public setters, get-only auto-properties and init-only properties keep their values;
/// types the reader could not create are refused naming what to add.
/// </summary>
public sealed class ObjectStateTests
{
    [Fact]
    public void RoundTrip_PrivateSetter_KeepsTheValue()
    {
        var counter = new Counter();
        counter.Add(5);

        Wire.RoundTrip(counter).Count.Should().Be(5);
        ObjectShape.Of(typeof(Counter)).Kind.Should().Be(ObjectShape.Verdict.Memberwise);
    }

    [Fact]
    public void RoundTrip_ProtectedAndInternalSettersAndABaseClassPrivateSetter_KeepTheirValues()
    {
        var value = Derived.Make(protectedValue: 1, internalValue: 2, basePrivate: 3, publicValue: 4);

        var back = Wire.RoundTrip(value);

        (back.Protected, back.Internal, back.BasePrivate, back.Public).Should().Be((1, 2, 3, 4));
    }

    [Fact]
    public void RoundTrip_GetOnlyAutoPropertiesNoConstructorTakes_KeepTheirValues()
    {
        var order = new Order("A-1");
        order.Lines.Add("apples");
        order.Lines.Add("pears");

        var back = Wire.RoundTrip(order);

        back.Id.Should().Be("A-1");
        back.Lines.Should().Equal("apples", "pears");
        back.Created.Should().Be(order.Created);
    }

    [Fact]
    public void RoundTrip_InitOnlyPropertiesAndARecordWithAPrivateSetter_KeepTheirValues()
    {
        Wire.RoundTrip(new Settings { Name = "n", Retries = 3 }).Should().BeEquivalentTo(new Settings { Name = "n", Retries = 3 });
        ObjectShape.Of(typeof(Settings)).Kind.Should().Be(ObjectShape.Verdict.Contractless, "init setters are public: MessagePack sets them itself");

        var tally = new Tally("votes") { Extra = 1 };
        tally.Increment();
        var back = Wire.RoundTrip(tally);
        (back.Name, back.Total, back.Extra).Should().Be(("votes", 1, 1));
    }

    [Fact]
    public void RoundTrip_StructWithPrivateSetterAndClassWithReadOnlyField_KeepTheirValues()
    {
        Wire.RoundTrip(Money.Of(12.5m, "EUR")).Should().Be(Money.Of(12.5m, "EUR"));
        Wire.RoundTrip(new Stamp(42)).Ticks.Should().Be(42);
    }

    [Fact]
    public void RoundTrip_OnlyAPrivateParameterlessConstructor_IsCreatedThroughIt()
    {
        var back = Wire.RoundTrip(Token.Create("secret"));

        back.Value.Should().Be("secret");
        back.MadeBy.Should().Be("private constructor");
    }

    [Fact]
    public void Write_ContractlessTypes_AreWrittenAsBefore()
    {
        // Records, public setters and constructor-matched get-only properties stay with MessagePack's own formatter.
        ObjectShape.Of(typeof(Settings)).Kind.Should().Be(ObjectShape.Verdict.Contractless);
        ObjectShape.Of(typeof(Stamp)).Kind.Should().Be(ObjectShape.Verdict.Contractless);
        Wire.Json(new Stamp(42)).Should().Be("{\"Ticks\":42}");
        Wire.Json(new Settings { Name = "n", Retries = 3 }).Should().Be("{\"Name\":\"n\",\"Retries\":3}");
    }

    [Fact]
    public void Write_MemberwiseType_WritesStoredMembersOnlyNotComputedOnes()
    {
        var counter = new Counter();
        counter.Add(2);

        Wire.Json(counter).Should().Be("{\"Count\":2,\"Label\":\"c\"}");
    }

    [Fact]
    public void Write_NoConstructorTheReaderCanCall_RefusedNamingTheTypeAndWhatToAdd()
    {
        var refusal = Wire.Refusal(new Sum(2, 3));

        refusal.Describe("Argument 's' of Jobs.Add", "parameter").Should().Be(
            "Argument 's' of Jobs.Add is of type Sum, which cannot be created on the other side: Sum has no parameterless constructor " +
            "and no constructor whose parameters are all named like its public properties. Add a constructor whose parameters match the " +
            "properties by name, Sum(int total, int count), or a parameterless one (it may be private).");
        var read = () => Wire.Read<Sum>([0x80]);
        read.Should().Throw<MessagePack.MessagePackSerializationException>().Which.Message.Should()
            .StartWith("A value of type Sum cannot be read: Sum has no parameterless constructor");
    }

    [Fact]
    public void Write_UncreatableTypeNested_SaysWhere()
    {
        var refusal = Wire.Refusal(new SumHolder([new Sum(1, 1)]));

        refusal.Describe("The result", "return type").Should().StartWith(
            "The result holds a value of type Sum at SumHolder.Sums[0], which cannot be created on the other side: Sum has no parameterless constructor");
    }

    [Fact]
    public void Write_Delegate_RefusedSayingCodeDoesNotTravel()
    {
        Func<int> function = () => 1;

        Wire.Refusal(function).Describe("Argument 'f' of Jobs.Call", "parameter").Should().Be(
            "Argument 'f' of Jobs.Call is of type Func<int>, which cannot be created on the other side: delegates are code, and code does not " +
            "travel as a value. Pass the data the code needs, and run the code in the [Remote] method.");
    }

    public sealed class Counter
    {
        public int Count { get; private set; }

        public string Label { get; set; } = "c";

        public int Twice => Count * 2;

        public void Add(int amount) => Count += amount;
    }

    public class Base
    {
        public int BasePrivate { get; private set; }

        protected void SetBase(int value) => BasePrivate = value;
    }

    public class Derived : Base
    {
        public int Protected { get; protected set; }

        public int Internal { get; internal set; }

        public int Public { get; set; }

        public static Derived Make(int protectedValue, int internalValue, int basePrivate, int publicValue)
        {
            var value = new Derived { Protected = protectedValue, Internal = internalValue, Public = publicValue };
            value.SetBase(basePrivate);
            return value;
        }
    }

    public sealed class Order(string id)
    {
        public string Id { get; } = id;

        public List<string> Lines { get; } = [];

        public DateTime Created { get; } = new(2024, 5, 6, 7, 8, 9, DateTimeKind.Utc);
    }

    public sealed class Settings
    {
        public string Name { get; init; } = "";

        public int Retries { get; init; }
    }

    public sealed record Tally(string Name)
    {
        public int Total { get; private set; }

        public int Extra { get; init; }

        public void Increment() => Total++;
    }

    public struct Money
    {
        public decimal Amount { get; private set; }

        public string Currency { get; private set; }

        public static Money Of(decimal amount, string currency) => new() { Amount = amount, Currency = currency };
    }

    public sealed class Stamp(long ticks)
    {
        public long Ticks { get; } = ticks;
    }

    public sealed class Token
    {
        private Token() => MadeBy = "private constructor";

        public string Value { get; private set; } = "";

        [IgnoreMember]
        public string MadeBy { get; private set; }

        public static Token Create(string value) => new() { Value = value, MadeBy = "factory" };
    }

    public sealed class Sum(int a, int b)
    {
        public int Total { get; } = a + b;

        public int Count { get; } = 2;
    }

    public sealed record SumHolder(List<Sum> Sums);
}
