namespace Coiled.Remote.Generators.Tests;

/// <summary>
/// [Remote] methods that a stub could not call, or whose end a worker could not wait for, are CR errors at their
/// declaration and get no stub, so the generated file still compiles: static abstract and virtual interface members,
/// async void methods and variable argument lists.
/// </summary>
public sealed class UncallableMethodTests
{
    private const string Interface = """
        namespace MyApp;

        public interface IParser
        {
            [Remote] static abstract int /*!*/Parse(string text);
            [Remote] static virtual int /*!*/Length(string text) => text.Length;
            [Remote] static int Count(string text) => text.Length;
        }

        public sealed class Parser : IParser
        {
            [Remote] public static int Parse(string text) => int.Parse(text);
        }
        """;

    [Fact]
    public async Task Analyze_StaticAbstractAndVirtualInterfaceMembers_ReportCR0015()
    {
        var diagnostics = await TestCompilation.AnalyzeAsync(Interface);

        DiagnosticAssert.Exactly(
            diagnostics,
            new ExpectedDiagnostic("CR0015", "Parse", Message("IParser.Parse", "abstract")),
            new ExpectedDiagnostic("CR0015", "Length", Message("IParser.Length", "virtual")));
    }

    [Fact]
    public void Generate_StaticAbstractAndVirtualInterfaceMembers_GetNoStubAndTheOthersCompile()
    {
        var (_, generated) = TestCompilation.GenerateClean(Interface);

        generated.Should().Contain("base(\"MyApp.IParser.Count(System.String)\", ")
            .And.Contain("base(\"MyApp.Parser.Parse(System.String)\", ")
            .And.NotContain("IParser.Parse")
            .And.NotContain("Length");
    }

    [Fact]
    public async Task Analyze_AsyncVoidMethod_ReportsCR0005AtTheReturnType()
    {
        var diagnostics = await TestCompilation.AnalyzeAsync("""
            namespace MyApp;
            public static class Jobs
            {
                [Remote] public static async /*!*/void Fire(int x) => await Task.Delay(x);
                [Remote] public static void Log(string message) { }
            }
            """);

        DiagnosticAssert.Exactly(diagnostics, new ExpectedDiagnostic(
            "CR0005",
            "void",
            "The return type of [Remote] method 'Jobs.Fire' cannot be sent back from a worker: it is async void, so the worker could not wait " +
            "for it to end or learn that it failed (an exception would end the worker's process); return Task instead"));
    }

    [Fact]
    public async Task Analyze_VariableArgumentList_ReportsCR0004AndGetsNoStub()
    {
        const string Source = """
            namespace MyApp;
            public static class Jobs
            {
                [Remote] public static int /*!*/Sum(__arglist) => 0;
                [Remote] public static int Square(int x) => x * x;
            }
            """;

        var diagnostics = await TestCompilation.AnalyzeAsync(Source);

        DiagnosticAssert.Exactly(diagnostics, new ExpectedDiagnostic(
            "CR0004",
            "Sum",
            "Parameter '__arglist' of [Remote] method 'Jobs.Sum' cannot be sent to a worker: a variable argument list has no types to read the arguments as; take an array instead"));
        TestCompilation.GenerateClean(Source).Generated.Should().NotContain("Sum");
    }

    private static string Message(string method, string kind)
        => $"[Remote] method '{method}' is a static {kind} member of interface 'IParser', which can be called only through a type parameter; " +
            "put [Remote] on the static method of a class or struct that implements it instead";
}
