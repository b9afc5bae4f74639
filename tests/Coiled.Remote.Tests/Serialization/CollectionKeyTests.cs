namespace Coiled.Remote.Tests.Serialization;

/// <summary>
/// Dictionaries and sets keyed by records, tuples and structs arrive with their keys found as in the caller's process;
/// MessagePack's untrusted-data settings alone would refuse to read them once they had been sent.
/// </summary>
public sealed class CollectionKeyTests
{
    [Fact]
    public void RoundTrip_DictionaryKeyedByATuple_FindsItsKeys()
    {
        var back = Wire.RoundTrip(new Dictionary<(int, int), string> { [(1, 2)] = "a", [(3, 4)] = "b" });

        back[(1, 2)].Should().Be("a");
        back[(3, 4)].Should().Be("b");
        back.Should().HaveCount(2);
    }

    [Fact]
    public void RoundTrip_DictionaryKeyedByARecordStructOrARecord_FindsItsKeys()
    {
        Wire.RoundTrip(new Dictionary<Cell, int> { [new Cell(1, "a")] = 7 })[new Cell(1, "a")].Should().Be(7);
        Wire.RoundTrip(new Dictionary<Cell, Cell?> { [new Cell(2, "b")] = null })[new Cell(2, "b")].Should().BeNull();
        Wire.RoundTrip(new Dictionary<Label, int> { [new Label("x")] = 9 })[new Label("x")].Should().Be(9);
    }

    [Fact]
    public void RoundTrip_SetsOfRecordsDeclaredAsClassesOrInterfaces_HoldTheSameItems()
    {
        Wire.RoundTrip(new HashSet<Cell> { new(1, "a"), new(2, "b") }).Should().BeEquivalentTo([new Cell(1, "a"), new Cell(2, "b")]);
        Wire.RoundTrip<ISet<Label>>(new HashSet<Label> { new("x") }).Contains(new Label("x")).Should().BeTrue();
        Wire.RoundTrip<IReadOnlySet<Cell>>(new HashSet<Cell> { new(3, "c") }).Contains(new Cell(3, "c")).Should().BeTrue();
    }

    [Fact]
    public void RoundTrip_StringAndIntegerKeys_StillRead()
    {
        Wire.RoundTrip(new Dictionary<string, int> { ["k"] = 1 })["k"].Should().Be(1);
        Wire.RoundTrip(new Dictionary<int, string> { [5] = "v" })[5].Should().Be("v");
    }

    public readonly record struct Cell(int Row, string Column);

    public sealed record Label(string Text);
}
