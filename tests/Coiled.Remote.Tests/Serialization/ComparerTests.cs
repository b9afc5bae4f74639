using System.Collections.Concurrent;
using System.Collections.Immutable;

namespace Coiled.Remote.Tests.Serialization;

/// <summary>
/// Sets and dictionaries that compare their keys with a comparer of their own are refused, naming the comparer, since
/// they would arrive finding or ordering their keys with the default one; default comparers, and what arrived, travel.
/// </summary>
public sealed class ComparerTests
{
    [Fact]
    public void Write_CaseInsensitiveDictionary_RefusedNamingTheComparer()
    {
        var headers = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase) { ["Accept"] = 1 };

        Wire.Refusal(headers).Describe("Argument 'h' of Jobs.Send", "parameter").Should().Be(
            "Argument 'h' of Jobs.Send is of type Dictionary<string, int>, which would not arrive whole: Dictionary<string, int> compares its keys " +
            "with StringComparer.OrdinalIgnoreCase, which does not travel: it would arrive finding its keys with the default comparer instead. " +
            "Make it again with StringComparer.OrdinalIgnoreCase where it arrives, or use keys whose default comparison is the one you need.");
    }

    [Fact]
    public void Write_SortedSetInDescendingOrderNestedAndDeclaredAsAnInterface_RefusedWithThePath()
    {
        var descending = new SortedSet<int>(Comparer<int>.Create((a, b) => b.CompareTo(a))) { 1, 2 };

        Wire.Refusal(new Ranking("r", descending)).Describe("The result", "return type").Should().StartWith(
            "The result holds a value of type SortedSet<int> at Ranking.Scores, which would not arrive whole: SortedSet<int> compares its keys with " +
            "ComparisonComparer<int>, which does not travel: it would arrive ordering its keys with the default comparer instead.");
        Wire.Refusal<IReadOnlySet<string>>(new HashSet<string>(StringComparer.InvariantCultureIgnoreCase) { "a" }).Describe("x", "parameter")
            .Should().StartWith("x is of type HashSet<string>, which would not arrive whole: HashSet<string> compares its keys with StringComparer.InvariantCultureIgnoreCase");
        Wire.Refusal<object>(ImmutableHashSet.Create(StringComparer.OrdinalIgnoreCase, "a")).Describe("x", "parameter")
            .Should().StartWith("x is of type ImmutableHashSet<string>, which would not arrive whole:");
    }

    [Fact]
    public void RoundTrip_DefaultOrOrdinalComparers_Travel()
    {
        Wire.RoundTrip(new Dictionary<string, int>(StringComparer.Ordinal) { ["a"] = 1 })["a"].Should().Be(1);
        Wire.RoundTrip(new HashSet<int> { 3 }).Should().Equal(3);
        Wire.RoundTrip(new SortedDictionary<string, int> { ["b"] = 2, ["a"] = 1 }).Keys.Should().Equal("a", "b");
        Wire.RoundTrip(new ConcurrentDictionary<int, string> { [1] = "x" })[1].Should().Be("x");
    }

    [Fact]
    public void RoundTrip_DictionaryThatArrived_TravelsOnAgain()
    {
        var arrived = Wire.RoundTrip(new Dictionary<string, int> { ["k"] = 1 });

        Wire.RoundTrip(arrived)["k"].Should().Be(1);
        Wire.RoundTrip(Wire.RoundTrip(new HashSet<long> { 5 })).Should().Equal(5);
    }

    public sealed record Ranking(string Name, SortedSet<int> Scores);
}
