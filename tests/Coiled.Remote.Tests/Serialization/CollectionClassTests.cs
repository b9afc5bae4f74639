using System.Collections.ObjectModel;
using MessagePack;

namespace Coiled.Remote.Tests.Serialization;

/// <summary>
/// Collection classes of the user's own (derived from List, Collection or Dictionary) arrive as themselves with their
/// items, records included; one that keeps state besides its items is refused naming it, since only items travel.
/// </summary>
public sealed class CollectionClassTests
{
    [Fact]
    public void RoundTrip_CollectionClassesOfRecords_ArriveAsThemselvesWithTheirItems()
    {
        var route = Wire.RoundTrip(new Route { new Stop("a", 1), new Stop("b", 2) });
        var stops = Wire.RoundTrip(new Stops { new Stop("c", 3) });
        var byName = Wire.RoundTrip(new StopsByName { ["d"] = new Stop("d", 4) });

        route.Should().BeOfType<Route>().And.Equal(new Stop("a", 1), new Stop("b", 2));
        stops.Should().BeOfType<Stops>().And.Equal(new Stop("c", 3));
        byName.Should().BeOfType<StopsByName>();
        byName["d"].Should().Be(new Stop("d", 4));
    }

    [Fact]
    public void RoundTrip_CollectionClassOfNumbers_KeepsTheirTypes()
    {
        var back = Wire.RoundTrip(new Readings { 1L, 300L, long.MaxValue });

        back.Should().BeOfType<Readings>().And.Equal(1L, 300L, long.MaxValue);
    }

    [Fact]
    public void Write_CollectionClassWithStateOfItsOwn_RefusedNamingIt()
    {
        var named = new NamedRoute { new Stop("a", 1) };
        named.Name = "north";

        Wire.Refusal(named).Describe("Argument 'r' of Jobs.Drive", "parameter").Should().Be(
            "Argument 'r' of Jobs.Drive is of type NamedRoute, which would not arrive whole: NamedRoute keeps state of its own (property Name) " +
            "besides its items, and a collection travels as its items only, so NamedRoute would arrive without it. " +
            "Pass the items and that state side by side, in a record of their own.");
        Wire.RoundTrip(new CachedRoute { new Stop("z", 9) }).Should().Equal(new Stop("z", 9));
    }

    public sealed record Stop(string Name, int Minute);

    public sealed class Route : List<Stop>;

    public sealed class Stops : Collection<Stop>;

    public sealed class StopsByName : Dictionary<string, Stop>;

    public sealed class Readings : List<long>;

    public sealed class NamedRoute : List<Stop>
    {
        public string Name { get; set; } = "";
    }

    public sealed class CachedRoute : List<Stop>
    {
        [IgnoreMember]
        public int Lookups { get; set; }
    }
}
