using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Coiled.Remote.Generators.Tests;

/// <summary>
/// An edit that does not touch a [Remote] method must not make the generator redo its work; one that does must show in
/// the generated file.
/// </summary>
public sealed class IncrementalCachingTests
{
    private const string Jobs = """
        namespace MyApp;

        public static class Jobs
        {
            [Remote]
            public static double Square(double x) => x * x;

            [Remote(Retries = 1)]
            public static Task<int> CountAsync(string text, CancellationToken ct) => Task.FromResult(text.Length);
        }
        """;

    private const string Helpers = """
        namespace MyApp;

        public static class Helpers
        {
            public static int Twice(int x) => x * 2;
        }
        """;

    private static readonly string[] TrackedSteps =
    [
        RemoteStubGenerator.TrackingNames.RemoteMethods,
        RemoteStubGenerator.TrackingNames.RegistryClassName,
        RemoteStubGenerator.TrackingNames.Registry,
    ];

    [Fact]
    public void Run_UnrelatedSyntaxTreeAdded_EveryStepCached()
    {
        var compilation = TestCompilation.Create(Jobs, Helpers);
        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText(
            "namespace MyApp; public sealed record Unrelated(int Value);", TestCompilation.ParseOptions, path: "Unrelated.cs"));

        AssertCachedAfterEdit(compilation, edited);
    }

    [Fact]
    public void Run_MethodBodyElsewhereChanged_EveryStepCached()
    {
        var compilation = TestCompilation.Create(Jobs, Helpers);
        var edited = ReplaceTree(compilation, "public static int Twice(int x) => x * 2;", "public static int Twice(int x) => x + x;");

        AssertCachedAfterEdit(compilation, edited);
    }

    [Fact]
    public void Run_RemoteMethodBodyChanged_EveryStepCached()
    {
        var compilation = TestCompilation.Create(Jobs, Helpers);
        var edited = ReplaceTree(compilation, "=> x * x;", "=> x * x * 1.0;");

        AssertCachedAfterEdit(compilation, edited);
    }

    [Fact]
    public void Run_RemoteMethodAdded_RegistryRegenerated()
    {
        var compilation = TestCompilation.Create(Jobs, Helpers);
        var edited = ReplaceTree(compilation, "public static int Twice(int x) => x * 2;", "[Remote] public static int Twice(int x) => x * 2;");
        var driver = TestCompilation.CreateDriver(trackSteps: true).RunGenerators(compilation);

        driver = driver.RunGenerators(edited);

        var result = driver.GetRunResult().Results.Single();
        result.TrackedSteps[RemoteStubGenerator.TrackingNames.Registry]
            .SelectMany(step => step.Outputs)
            .Should().ContainSingle().Which.Reason.Should().Be(IncrementalStepRunReason.Modified);
        result.GeneratedSources.Single().SourceText.ToString().Should().Contain("MyApp.Helpers.Twice(System.Int32)");
    }

    [Fact]
    public void Run_RetriesChanged_RegistryRegenerated()
    {
        var compilation = TestCompilation.Create(Jobs, Helpers);
        var edited = ReplaceTree(compilation, "[Remote(Retries = 1)]", "[Remote(Retries = 3)]");
        var driver = TestCompilation.CreateDriver(trackSteps: true).RunGenerators(compilation);

        driver = driver.RunGenerators(edited);

        var result = driver.GetRunResult().Results.Single();
        result.TrackedSteps[RemoteStubGenerator.TrackingNames.RemoteMethods]
            .SelectMany(step => step.Outputs)
            .Select(output => output.Reason)
            .Should().Contain(IncrementalStepRunReason.Modified);
        result.TrackedSteps[RemoteStubGenerator.TrackingNames.Registry]
            .SelectMany(step => step.Outputs)
            .Should().ContainSingle().Which.Reason.Should().Be(IncrementalStepRunReason.Modified);
        result.GeneratedSources.Single().SourceText.ToString().Should()
            .Contain("(global::MyApp.Jobs.CountAsync), 3, 0) { }")
            .And.NotContain("(global::MyApp.Jobs.CountAsync), 1, 0) { }");
    }

    [Fact]
    public async Task Run_OverloadWithTheSameIdAdded_BothLoseTheirStubsAndCR0010IsReported()
    {
        const string Added = "    [Remote] public static double /*!*/Area(Y::Lib.Point p) => p.X * p.Y;\n";
        var compilation = TestCompilation.CreateReferencing(PointLibraries.Both, PointLibraries.Overloads.Replace(Added, string.Empty, StringComparison.Ordinal));
        var edited = ReplaceTree(compilation, "    [Remote] public static double Square", Added + "    [Remote] public static double Square");
        var driver = TestCompilation.CreateDriver(trackSteps: true).RunGenerators(compilation);
        driver.GetRunResult().Results.Single().GeneratedSources.Single().SourceText.ToString().Should().Contain("base(\"MyApp.Jobs.Area(Lib.Point)\", ");

        driver = driver.RunGenerators(edited);

        var result = driver.GetRunResult().Results.Single();
        result.TrackedSteps[RemoteStubGenerator.TrackingNames.Registry]
            .SelectMany(step => step.Outputs)
            .Should().ContainSingle().Which.Reason.Should().Be(IncrementalStepRunReason.Modified);
        result.GeneratedSources.Single().SourceText.ToString().Should()
            .Contain("base(\"MyApp.Jobs.Square(System.Double)\", ")
            .And.NotContain("Area");
        DiagnosticAssert.Exactly(
            await TestCompilation.AnalyzeAsync(edited),
            new ExpectedDiagnostic("CR0010", "Area", PointLibraries.DuplicateMessage),
            new ExpectedDiagnostic("CR0010", "Area", PointLibraries.DuplicateMessage));
    }

    private static void AssertCachedAfterEdit(Compilation compilation, Compilation edited)
    {
        var driver = TestCompilation.CreateDriver(trackSteps: true).RunGenerators(compilation);
        var first = driver.GetRunResult().Results.Single();

        driver = driver.RunGenerators(edited);
        var second = driver.GetRunResult().Results.Single();

        second.GeneratedSources.Select(source => source.SourceText.ToString())
            .Should().Equal(first.GeneratedSources.Select(source => source.SourceText.ToString()))
            .And.ContainSingle();
        foreach (var name in TrackedSteps)
        {
            second.TrackedSteps.Should().ContainKey(name);
            var reasons = second.TrackedSteps[name].SelectMany(step => step.Outputs).Select(output => output.Reason).ToList();
            reasons.Should().NotBeEmpty()
                .And.OnlyContain(reason => reason == IncrementalStepRunReason.Cached || reason == IncrementalStepRunReason.Unchanged, $"step {name} must not redo work");
        }

        second.TrackedOutputSteps.SelectMany(step => step.Value).SelectMany(step => step.Outputs)
            .Should().OnlyContain(output => output.Reason == IncrementalStepRunReason.Cached);
    }

    private static Compilation ReplaceTree(Compilation compilation, string oldText, string newText)
    {
        var tree = compilation.SyntaxTrees.Single(t => t.ToString().Contains(oldText, StringComparison.Ordinal));
        var edited = tree.WithChangedText(tree.GetText().Replace(tree.ToString().IndexOf(oldText, StringComparison.Ordinal), oldText.Length, newText));
        return compilation.ReplaceSyntaxTree(tree, edited);
    }
}
