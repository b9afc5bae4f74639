using MessagePack;

namespace Coiled.Remote.Tests.Serialization;

/// <summary>
/// A class or struct whose non-public fields hold state that nothing would set again on the other side, or whose events
/// have handlers, is refused, naming them; fields that a travelling member or a constructor parameter restores, events
/// without handlers, and what is marked to stay behind, do not stop it.
/// </summary>
public sealed class HiddenStateTests
{
    private const string Advice =
        "Make that state a public property (its setter may be private) or a constructor parameter named like one; if it need not travel, mark";

    [Fact]
    public void Write_ListBehindAComputedProperty_RefusedNamingTheField()
    {
        var basket = new Basket();
        basket.Add("apple");

        Wire.Refusal(basket).Describe("Argument 'b' of Jobs.Pack", "parameter").Should().Be(
            "Argument 'b' of Jobs.Pack is of type Basket, which would not arrive whole: Basket keeps state in non-public field _items, which would " +
            $"not travel, so Basket would arrive without it. {Advice} it [NonSerialized].");
    }

    [Fact]
    public void Write_NonPublicAutoPropertyNested_RefusedWithThePathAndHowToMarkIt()
    {
        Wire.Refusal(new List<Secretive> { new() }).Describe("The result", "return type").Should().Be(
            "The result holds a value of type Secretive at List<Secretive>[0], which would not arrive whole: Secretive keeps state in non-public " +
            $"property Code, which would not travel, so Secretive would arrive without it. {Advice} it [IgnoreMember].");
    }

    [Fact]
    public void Write_EventWithHandlers_RefusedAndWithoutThemTravels()
    {
        var watched = new Watched { Name = "w" };
        Wire.RoundTrip(watched).Name.Should().Be("w");

        watched.Changed += (_, _) => { };

        Wire.Refusal(watched).Describe("Argument 'w' of Jobs.Watch", "parameter").Should().Be(
            "Argument 'w' of Jobs.Watch is of type Watched, which would not arrive whole: Watched has handlers subscribed to its event Changed, " +
            "and handlers are code, which does not travel: it would arrive with none. Remove them before it is sent and subscribe again where " +
            "it arrives, or mark the event [field: NonSerialized] to send it without them.");
    }

    [Fact]
    public void Write_ManyHiddenFields_NamesFourAndCountsTheRest()
    {
        Wire.Refusal(new Crowded()).Describe("x", "parameter").Should().StartWith(
            "x is of type Crowded, which would not arrive whole: Crowded keeps state in non-public field _a, field _b, field _c, field _d and 2 more, which would not travel");
    }

    [Fact]
    public void RoundTrip_FieldsRestoredByPropertiesOrConstructorParameters_KeepTheirValues()
    {
        Wire.RoundTrip(new Cell(3, 4)).Should().Be(new Cell(3, 4));
        Wire.RoundTrip(new Celsius(21.5)).Degrees.Should().Be(21.5);
        Wire.RoundTrip(new Scaler(3)).Apply(2).Should().Be(6);
    }

    [Fact]
    public void RoundTrip_FieldsMarkedToStayBehind_TravelWithoutThem()
    {
        var back = Wire.RoundTrip(new Cached { Value = 7 });

        back.Value.Should().Be(7);
        back.Lookups.Should().Be(0);
    }

    public sealed class Basket
    {
        private readonly List<string> _items = [];

        public IReadOnlyList<string> Items => _items;

        public void Add(string item) => _items.Add(item);
    }

    public sealed class Secretive
    {
        public string Name { get; set; } = "s";

        internal int Code { get; set; } = 1;
    }

    public sealed class Watched
    {
        public event EventHandler? Changed;

        public string Name { get; set; } = "";

        public void Touch() => Changed?.Invoke(this, EventArgs.Empty);
    }

    public sealed class Crowded
    {
        private int _a = 1, _b = 2, _c = 3, _d = 4, _e = 5, _f = 6;

        public int Sum => _a + _b + _c + _d + _e + _f;
    }

    /// <summary>Fields named like the properties that set them.</summary>
    public struct Cell(int row, int column)
    {
        private int _row = row;
        private int _column = column;

        public int Row { readonly get => _row; set => _row = value; }

        public int Column { readonly get => _column; set => _column = value; }
    }

    /// <summary>A field named like the constructor parameter that sets it.</summary>
    public sealed class Celsius(double degrees)
    {
        private readonly double _degrees = degrees;

        public double Degrees => _degrees;
    }

    /// <summary>A primary constructor parameter the compiler captures in a field of its own.</summary>
    public sealed class Scaler(int factor)
    {
        public int Factor => factor;

        public int Apply(int x) => x * factor;
    }

    public sealed class Cached
    {
        [NonSerialized]
        private readonly object _gate = new();

        public int Value { get; set; }

        [IgnoreMember]
        internal int Lookups { get; private set; }

        public int Read()
        {
            lock (_gate)
            {
                Lookups++;
                return Value;
            }
        }
    }
}
