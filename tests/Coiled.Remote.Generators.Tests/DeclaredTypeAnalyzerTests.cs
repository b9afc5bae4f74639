namespace Coiled.Remote.Generators.Tests;

/// <summary>
/// A [Remote] parameter or result declared as an interface or abstract class that is not a collection could only ever
/// carry null: every value is refused at run time. It is a CR error at the declaration, naming the type; collection
/// interfaces and types that say how MessagePack writes them ([Union]) are not.
/// </summary>
public sealed class DeclaredTypeAnalyzerTests
{
    private const string Shapes = """
        namespace MyApp;

        public interface IShape { double Area { get; } }
        public sealed record Circle(double Radius) : IShape { public double Area => 3.14 * Radius * Radius; }
        public abstract record Animal(string Name);
        public sealed record Dog(string Name) : Animal(Name);
        """;

    [Fact]
    public async Task Analyze_InterfaceOrAbstractClassParameter_ReportsCR0004NamingTheType()
    {
        var diagnostics = await TestCompilation.AnalyzeAsync(Shapes, """
            namespace MyApp;
            public static class Jobs
            {
                [Remote] public static double Area(IShape /*!*/shape) => shape.Area;
                [Remote] public static string Name(Animal /*!*/animal) => animal.Name;
                [Remote] public static int Count(List<IComparable> /*!*/items) => items.Count;
            }
            """);

        DiagnosticAssert.Exactly(
            diagnostics,
            new ExpectedDiagnostic("CR0004", "shape", "Parameter 'shape' of [Remote] method 'Jobs.Area' cannot be sent to a worker: 'IShape' is an interface " +
                "that is not a collection, so a worker could not tell which type to create from it; declare the class, record or struct you pass instead"),
            new ExpectedDiagnostic("CR0004", "animal", "Parameter 'animal' of [Remote] method 'Jobs.Name' cannot be sent to a worker: 'Animal' is an abstract " +
                "class, so a worker could not tell which derived type to create from it; declare the class or record you pass instead"),
            new ExpectedDiagnostic("CR0004", "items", "Parameter 'items' of [Remote] method 'Jobs.Count' cannot be sent to a worker: 'List<IComparable>' contains " +
                "'IComparable', which is an interface that is not a collection, so a worker could not tell which type to create from it; declare the class, record or struct you pass instead"));
    }

    [Fact]
    public async Task Analyze_InterfaceInATaskResult_ReportsCR0005()
    {
        var diagnostics = await TestCompilation.AnalyzeAsync(Shapes, """
            namespace MyApp;
            public static class Jobs
            {
                [Remote] public static /*!*/Task<IShape> MakeAsync(double r) => Task.FromResult<IShape>(new Circle(r));
            }
            """);

        DiagnosticAssert.Exactly(diagnostics, new ExpectedDiagnostic(
            "CR0005",
            "Task<IShape>",
            "The return type of [Remote] method 'Jobs.MakeAsync' cannot be sent back from a worker: 'IShape' is an interface that is not a collection, " +
            "so a worker could not tell which type to create from it; declare the class, record or struct you pass instead"));
    }

    [Fact]
    public async Task Analyze_CollectionInterfacesConcreteTypesAndUnions_ReportNothing()
    {
        var diagnostics = await TestCompilation.AnalyzeAsync(Shapes, """
            using System.Collections;
            using System.Collections.Immutable;
            using MessagePack;
            namespace MyApp;

            [Union(0, typeof(Square))]
            public interface IPiece { }
            [MessagePackObject] public sealed class Square : IPiece { [Key(0)] public int Side { get; set; } }

            public static class Jobs
            {
                [Remote] public static IEnumerable<Circle> A(IReadOnlyList<Circle> a, IReadOnlyDictionary<string, Dog> b, ISet<int> c, IList d) => a;
                [Remote] public static ILookup<int, string> B(IImmutableList<Dog> a, IDictionary b, IEnumerable c, ICollection<Circle> d) => null!;
                [Remote] public static IPiece C(Circle a, Dog b, IReadOnlySet<string> c, IGrouping<int, Dog> d) => new Square();
                [Remote] public static object D(object? a, IImmutableDictionary<int, Circle> b) => a!;
            }
            """);

        diagnostics.Should().BeEmpty();
    }
}
