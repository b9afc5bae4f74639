namespace Coiled.Remote.Generators.Tests;

/// <summary>No two [Remote] methods of an assembly have the same stub id without a build error (CR0010).</summary>
public sealed class DuplicateIdTests
{
    [Fact]
    public async Task Analyze_OverloadsWithTheSameId_ReportsCR0010OnEach()
    {
        var diagnostics = await TestCompilation.AnalyzeAsync(TestCompilation.CreateReferencing(PointLibraries.Both, PointLibraries.Overloads));

        DiagnosticAssert.Exactly(
            diagnostics,
            new ExpectedDiagnostic("CR0010", "Area", PointLibraries.DuplicateMessage),
            new ExpectedDiagnostic("CR0010", "Area", PointLibraries.DuplicateMessage));
    }

    [Fact]
    public void Generate_OverloadsWithTheSameId_NeitherGetsAStub()
    {
        var (output, generated) = TestCompilation.Generate(TestCompilation.CreateReferencing(PointLibraries.Both, PointLibraries.Overloads));

        TestCompilation.Problems(output.GetDiagnostics()).Should().BeEmpty();
        generated.Should().Contain("base(\"MyApp.Jobs.Square(System.Double)\", ")
            .And.NotContain("Area");
    }

    [Fact]
    public async Task Analyze_OverloadWithTheSameIdThatCannotHaveAStub_ReportsOnlyItsOwnProblem()
    {
        // Area(ref Point) has the id of Area(Point), but it gets no stub (CR0003), so Area(Point) keeps its own.
        var diagnostics = await TestCompilation.AnalyzeAsync("""
            namespace MyApp;
            public sealed record Point(double X, double Y);
            public static class Jobs
            {
                [Remote] public static double Area(Point p) => p.X * p.Y;
                [Remote] public static double Area(ref Point /*!*/p) => p.X * p.Y;
            }
            """);

        DiagnosticAssert.Exactly(diagnostics, new ExpectedDiagnostic(
            "CR0003",
            "p",
            "Parameter 'p' of [Remote] method 'Jobs.Area' is passed by 'ref'; a worker receives a copy of every argument, so take it by value as a serializable type (an array instead of a span)"));
    }
}
