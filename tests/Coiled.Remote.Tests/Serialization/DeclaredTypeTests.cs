using System.Collections.ObjectModel;

namespace Coiled.Remote.Tests.Serialization;

/// <summary>
/// Values declared as object, an interface, an abstract class or a base class either arrive as what they are or are
/// refused, naming their type and the declaration to change; never a silent change of type.
/// </summary>
public sealed class DeclaredTypeTests
{
    private const string ObjectRule =
        "only primitives, strings, byte[], UTC DateTimes and collections of primitives, strings and byte[] keep their type through object, " +
        "so it would not arrive as itself";

    [Fact]
    public void Write_RecordAsObject_RefusedNamingTheTypeToDeclare()
    {
        var refusal = Wire.Refusal<object>(new Point(1, 2));

        refusal.Describe("Argument 'o' of Jobs.Take", "parameter").Should()
            .Be($"Argument 'o' of Jobs.Take is of type Point, declared as object: {ObjectRule}. Declare the parameter as Point instead.");
    }

    [Fact]
    public void Write_RecordInAnObjectMemberOrList_RefusedWithItsPath()
    {
        Wire.Refusal(new Envelope("e", new Point(1, 2))).Describe("The result", "return type").Should()
            .Be($"The result holds a value of type Point at Envelope.Payload, declared as object: {ObjectRule}. Declare the member as Point instead.");
        Wire.Refusal(new List<object> { 1, new Point(1, 2) }).Describe("The result", "return type").Should()
            .Be($"The result holds a value of type Point at List<object>[1], declared as object: {ObjectRule}. Declare the member as Point instead.");
        Wire.Refusal<object>(new List<Point> { new(1, 2) }).Describe("The result", "return type").Should()
            .Be($"The result is of type List<Point>, declared as object: {ObjectRule}. Declare the return type as List<Point> instead.");
    }

    [Fact]
    public void Write_EnumGuidAndDecimalAsObject_Refused()
    {
        Wire.Refusal<object>(DayOfWeek.Friday).Describe("x", "parameter").Should().StartWith("x is of type DayOfWeek, declared as object:");
        Wire.Refusal<object>(Guid.Empty).Describe("x", "parameter").Should().StartWith("x is of type Guid, declared as object:");
        Wire.Refusal<object>(1.5m).Describe("x", "parameter").Should().StartWith("x is of type decimal, declared as object:");
    }

    [Fact]
    public void Write_CharOrCharsAsObject_RefusedBecauseTheyWouldArriveAsNumbers()
    {
        const string CharRule = "a char travels as its number, so through object it would arrive as a byte or a ushort";

        Wire.Refusal<object>('a').Describe("Argument 'o' of Jobs.Take", "parameter").Should()
            .Be($"Argument 'o' of Jobs.Take is of type char, declared as object: {CharRule}. Declare the parameter as char instead.");
        Wire.Refusal<object>(new[] { 'a', 'b' }).Describe("x", "parameter").Should()
            .Be($"x is of type char[], declared as object: {CharRule}. Declare the parameter as char[] instead.");
        Wire.Refusal(new Envelope("e", new List<char> { 'z' })).Describe("x", "parameter").Should()
            .Be($"x holds a value of type List<char> at Envelope.Payload, declared as object: {CharRule}. Declare the member as List<char> instead.");
        Wire.RoundTrip('a').Should().Be('a');
    }

    [Fact]
    public void Write_LocalDateTimeOrACollectionOfDateTimesAsObject_Refused()
    {
        Wire.RoundTrip<object>(new DateTime(2024, 1, 2, 7, 8, 9, DateTimeKind.Utc)).Should().Be(new DateTime(2024, 1, 2, 7, 8, 9, DateTimeKind.Utc));
        Wire.Refusal<object>(new DateTime(2024, 1, 2, 7, 8, 9, DateTimeKind.Local)).Describe("x", "parameter").Should()
            .Be($"x is of type DateTime, declared as object: {ObjectRule}. Declare the parameter as DateTime instead.");
        Wire.Refusal<object>(new List<DateTime> { DateTime.UnixEpoch }).Describe("x", "parameter").Should()
            .StartWith("x is of type List<DateTime>, declared as object:");
    }

    [Fact]
    public void RoundTrip_PrimitivesStringsAndCollectionsAsObject_WorkAsBefore()
    {
        Wire.RoundTrip<object>(300).Should().Be((ushort)300);
        Wire.RoundTrip<object>("text").Should().Be("text");
        Wire.RoundTrip<object>(2.5).Should().Be(2.5);
        Wire.RoundTrip<object>(new byte[] { 1, 2 }).Should().BeEquivalentTo(new byte[] { 1, 2 });
        Wire.RoundTrip<object>(new List<int> { 1, 2 }).Should().BeEquivalentTo(new object[] { (byte)1, (byte)2 });
        Wire.RoundTrip<object>(new Dictionary<string, object> { ["a"] = "b", ["n"] = new[] { "x" } })
            .Should().BeEquivalentTo(new Dictionary<object, object> { ["a"] = "b", ["n"] = new object[] { "x" } });
        Wire.RoundTrip(new Envelope("e", null)).Payload.Should().BeNull();
    }

    [Fact]
    public void Write_InterfaceOrAbstractDeclared_RefusedNamingTheRuntimeType()
    {
        Wire.Refusal<IShape>(new Circle(2)).Describe("Argument 's' of Jobs.Area", "parameter").Should().Be(
            "Argument 's' of Jobs.Area is of type Circle, declared as IShape: the other side could not tell which type to create for the interface IShape. " +
            "Declare the parameter as Circle instead.");
        Wire.Refusal(new Drawing([new Circle(1)])).Describe("The result", "return type").Should().Be(
            "The result holds a value of type Circle at Drawing.Shapes[0], declared as IShape: the other side could not tell which type to create for the interface IShape. " +
            "Declare the member as Circle instead.");
        Wire.Refusal<Animal>(new Dog("rex")).Describe("x", "parameter").Should().StartWith(
            "x is of type Dog, declared as Animal: the other side could not tell which type to create for the abstract class Animal.");
        Wire.RoundTrip<IShape?>(null).Should().BeNull();
    }

    [Fact]
    public void Write_AbstractCollectionClassDeclared_RefusedNamingTheRuntimeType()
    {
        var byName = new PointsByX { new Point(1, 2) };

        Wire.Refusal<KeyedCollection<int, Point>>(byName).Describe("Argument 'p' of Jobs.Plot", "parameter").Should().Be(
            "Argument 'p' of Jobs.Plot is of type PointsByX, declared as KeyedCollection<int, Point>: the other side could not tell which type " +
            "to create for the abstract class KeyedCollection<int, Point>. Declare the parameter as PointsByX instead.");
    }

    [Fact]
    public void Write_DerivedClassDeclaredAsItsBase_RefusedRatherThanTruncated()
    {
        Wire.Refusal<Vehicle>(new Truck { Wheels = 6, Load = 10 }).Describe("Argument 'v' of Jobs.Drive", "parameter").Should().Be(
            "Argument 'v' of Jobs.Drive is of type Truck, declared as Vehicle: only the members of Vehicle would travel, and it would arrive as Vehicle. " +
            "Declare the parameter as Truck instead.");
        Wire.RoundTrip(new Vehicle { Wheels = 4 }).Wheels.Should().Be(4);
    }

    [Fact]
    public void Write_CollectionSubclassDeclaredAsItsBase_RefusedRatherThanArrivingAsTheBase()
    {
        Wire.Refusal<List<int>>(new Scores { 1, 2 }).Describe("Argument 's' of Jobs.Sum", "parameter").Should().Be(
            "Argument 's' of Jobs.Sum is of type Scores, declared as List<int>: only the items of List<int> would travel, and it would arrive " +
            "as List<int>. Declare the parameter as Scores instead.");
        Wire.Refusal(new Atlas(new Places { ["p"] = new(1, 2) })).Describe("The result", "return type").Should().Be(
            "The result holds a value of type Places at Atlas.Places, declared as Dictionary<string, Point>: only the items of " +
            "Dictionary<string, Point> would travel, and it would arrive as Dictionary<string, Point>. Declare the member as Places instead.");
        Wire.RoundTrip(new Scores { 3 }).Should().Equal(3);
        Wire.RoundTrip(new List<int> { 4 }).Should().Equal(4);
    }

    [Fact]
    public void Write_FrameworkViewOfACollectionDeclaredAsTheCollection_RefusedSayingToCopyIt()
    {
        var view = new SortedSet<int> { 1, 2, 3, 4 }.GetViewBetween(2, 3);

        Wire.Refusal(view).Describe("x", "parameter").Should().Be(
            "x is of type TreeSubSet<int>, declared as SortedSet<int>: only the items of SortedSet<int> would travel, and it would " +
            "arrive as SortedSet<int>. Pass a new SortedSet<int> with its items instead.");
        Wire.RoundTrip(new SortedSet<int>(view)).Should().Equal(2, 3);
    }

    [Fact]
    public void RoundTrip_CollectionInterfaces_KeepTheirItems()
    {
        Wire.RoundTrip<IReadOnlyList<Point>>([new Point(1, 2)]).Should().Equal(new Point(1, 2));
        Wire.RoundTrip<IDictionary<string, Point>>(new Dictionary<string, Point> { ["p"] = new(3, 4) })["p"].Should().Be(new Point(3, 4));
    }

    public sealed record Point(int X, int Y);

    public sealed class Scores : List<int>;

    public sealed class PointsByX : KeyedCollection<int, Point>
    {
        protected override int GetKeyForItem(Point item) => item.X;
    }

    public sealed class Places : Dictionary<string, Point>;

    public sealed record Atlas(Dictionary<string, Point> Places);

    public sealed record Envelope(string Name, object? Payload);

    public interface IShape
    {
        double Area { get; }
    }

    public sealed record Circle(double Radius) : IShape
    {
        public double Area => Math.PI * Radius * Radius;
    }

    public sealed record Drawing(List<IShape> Shapes);

    public abstract record Animal(string Name);

    public sealed record Dog(string Name) : Animal(Name);

    public class Vehicle
    {
        public int Wheels { get; set; }
    }

    public sealed class Truck : Vehicle
    {
        public int Load { get; set; }
    }
}
