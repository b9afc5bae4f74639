using System.Collections.Immutable;
using Basic.Reference.Assemblies;
using Coiled.Remote.Generators.Analyzers;
using Coiled.Remote.Stubs;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;

namespace Coiled.Remote.Generators.Tests;

/// <summary>Builds user compilations against .NET 10, Coiled.Remote and MessagePack (with its attributes), and runs the generator and analyzers on them.</summary>
internal static class TestCompilation
{
    public const string AssemblyName = "MyApp.Jobs";

    /// <summary>Preview, so that the tests see every construct a user's compiler accepts (C# 14 extension blocks included).</summary>
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Preview);

    /// <summary>What <c>ImplicitUsings</c> gives a console or library project, plus Coiled.Remote.</summary>
    public const string GlobalUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.IO;
        global using System.Linq;
        global using System.Threading;
        global using System.Threading.Tasks;
        global using Coiled.Remote;
        """;

    private static readonly ImmutableArray<MetadataReference> References =
    [
        .. Net100.References.All,
        MetadataReference.CreateFromFile(typeof(RemoteStub).Assembly.Location),
        MetadataReference.CreateFromFile(typeof(MessagePack.MessagePackSerializer).Assembly.Location),
        MetadataReference.CreateFromFile(typeof(MessagePack.UnionAttribute).Assembly.Location),
    ];

    public static CSharpCompilation Create(params string[] sources) => CreateNamed(AssemblyName, sources);

    /// <summary>A compilation that also references <paramref name="libraries"/>, such as those of <see cref="Library"/>.</summary>
    public static CSharpCompilation CreateReferencing(IEnumerable<MetadataReference> libraries, params string[] sources)
        => Create(sources).AddReferences(libraries);

    /// <summary>
    /// A library compiled from <paramref name="source"/>, referenced under <paramref name="aliases"/> (<c>global</c> alone
    /// when none are given), as <c>&lt;Reference Aliases="..."/&gt;</c> does.
    /// </summary>
    public static MetadataReference Library(string assemblyName, string source, params string[] aliases)
    {
        var library = CreateNamed(assemblyName, source);
        using var image = new MemoryStream();
        var emitted = library.Emit(image);
        emitted.Success.Should().BeTrue("the library must compile: {0}", string.Join("\n", emitted.Diagnostics));
        var reference = MetadataReference.CreateFromImage(image.ToArray());
        return aliases.Length == 0 ? reference : reference.WithAliases(aliases);
    }

    public static CSharpCompilation CreateNamed(string assemblyName, params string[] sources)
    {
        var trees = sources
            .Prepend(GlobalUsings)
            .Select((source, i) => CSharpSyntaxTree.ParseText(source, ParseOptions, path: $"Source{i}.cs"));
        var options = new CSharpCompilationOptions(
                OutputKind.DynamicallyLinkedLibrary,
                nullableContextOptions: NullableContextOptions.Enable,
                warningLevel: 9999,
                allowUnsafe: true)
            // The SDK's default NoWarn: assembly version unification between the references.
            .WithSpecificDiagnosticOptions(new Dictionary<string, ReportDiagnostic>
            {
                ["CS1701"] = ReportDiagnostic.Suppress,
                ["CS1702"] = ReportDiagnostic.Suppress,
            });
        return CSharpCompilation.Create(assemblyName, trees, References, options);
    }

    public static GeneratorDriver CreateDriver(bool trackSteps = false)
        => CSharpGeneratorDriver.Create(
            [new RemoteStubGenerator().AsSourceGenerator()],
            parseOptions: ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: trackSteps));

    /// <summary>Runs the generator; returns the compilation with the generated file and the generated text (null when none).</summary>
    public static (Compilation Output, string? Generated) Generate(Compilation compilation)
    {
        CreateDriver().RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorDiagnostics);
        generatorDiagnostics.Should().BeEmpty();
        var generated = output.SyntaxTrees
            .FirstOrDefault(tree => tree.FilePath.EndsWith(RemoteStubGenerator.HintName, StringComparison.Ordinal))
            ?.ToString();
        return (output, generated);
    }

    /// <summary>Runs the generator and asserts that the result compiles without errors or warnings.</summary>
    public static (Compilation Output, string Generated) GenerateClean(params string[] sources)
    {
        var (output, generated) = Generate(Create(sources));
        generated.Should().NotBeNull("the sources have a valid [Remote] method");
        Problems(output.GetDiagnostics()).Should().BeEmpty("the generated stubs must compile cleanly:\n{0}", generated);
        return (output, generated!);
    }

    public static Task<ImmutableArray<Diagnostic>> AnalyzeAsync(params string[] sources)
        => AnalyzeAsync(Create(sources));

    /// <summary>Runs both analyzers on <paramref name="compilation"/>, which must compile without them.</summary>
    public static async Task<ImmutableArray<Diagnostic>> AnalyzeAsync(Compilation compilation)
    {
        Problems(compilation.GetDiagnostics()).Should().BeEmpty("the test source itself must compile");
        ImmutableArray<DiagnosticAnalyzer> analyzers = [new RemoteMethodAnalyzer(), new RemoteCallAnalyzer()];
        return await compilation.WithAnalyzers(analyzers).GetAnalyzerDiagnosticsAsync();
    }

    public static IEnumerable<Diagnostic> Problems(IEnumerable<Diagnostic> diagnostics)
        => diagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning);
}
