using Microsoft.CodeAnalysis;

namespace Coiled.Remote.Generators.Tests;

/// <summary>
/// Each diagnostic fires alone, at the place marked <c>/*!*/</c> in the source, with a message that names the method.
/// </summary>
public sealed class AnalyzerTests
{
    private const string Marker = "/*!*/";

    [Fact]
    public async Task Analyze_ValidMethodsAndCalls_ReportNothing()
    {
        var diagnostics = await TestCompilation.AnalyzeAsync("""
            namespace MyApp;

            public sealed record Point(double X, double Y);

            public static class Jobs
            {
                [Remote] public static double Square(double x) => x * x;
                [Remote] public static Point Move(Point p, double dx) => p with { X = p.X + dx };
                [Remote] public static Task<int> CountAsync(string text, CancellationToken ct) => Task.FromResult(text.Length);
                [Remote] public static ValueTask FlushAsync() => default;
                [Remote] public static void Log(string? message) { }
                [Remote] internal static IEnumerable<int> Range(int count, object? state, int[] seed, Dictionary<string, List<Point>> map) => seed;
                [Remote] public static (int, string?) Pair(int? a, (int, Point) b, DateTimeOffset c, CancellationToken ct) => (0, null);

                internal static class Nested
                {
                    [Remote] internal static int Echo(int x) => x;
                }
            }

            public static class Caller
            {
                public static async Task RunAsync(Cluster cluster, [RemoteMethodParameter] Func<double, double> someDelegate)
                {
                    double[] squares = await cluster.MapAsync(Jobs.Square, new[] { 1.0, 2.0 });
                    Point moved = await cluster.SubmitAsync(Jobs.Nested.Echo, 3) is var n ? new Point(n, 0) : default!;
                    await foreach (var item in cluster.MapStreamAsync(Jobs.Square, squares)) { }
                    _ = await cluster.MapOutcomesAsync(Jobs.Square, squares);
                    _ = await cluster.MapAsync(someDelegate, squares);
                    Func<double, double> local = x => x;
                    _ = local(moved.X);
                }
            }
            """);

        diagnostics.Should().BeEmpty();
    }

    [Fact]
    public async Task Analyze_InstanceMethod_ReportsCR0001()
    {
        await AssertSingleAsync("CR0001", "Square", "'Jobs.Square'", "make it static", """
            namespace MyApp;
            public class Jobs
            {
                [Remote] public double /*!*/Square(double x) => x * x;
            }
            """);
    }

    [Fact]
    public async Task Analyze_GenericMethod_ReportsCR0002()
    {
        await AssertSingleAsync("CR0002", "Echo", "'Jobs.Echo'", "remove the type parameters", """
            namespace MyApp;
            public static class Jobs
            {
                [Remote] public static T /*!*/Echo<T>(T value) => value;
            }
            """);
    }

    [Fact]
    public async Task Analyze_MethodInGenericType_ReportsCR0002()
    {
        await AssertSingleAsync("CR0002", "Count", "'Box<T>.Count'", "generic type", """
            namespace MyApp;
            public static class Box<T>
            {
                [Remote] public static int /*!*/Count(int x) => x;
            }
            """);
    }

    [Theory]
    [InlineData("ref int /*!*/value", "value", "passed by 'ref'")]
    [InlineData("out int /*!*/value", "value", "an 'out' parameter")]
    [InlineData("in int /*!*/value", "value", "passed by 'in'")]
    [InlineData("ref readonly int /*!*/value", "value", "passed by 'ref readonly'")]
    [InlineData("Span<byte> /*!*/value", "value", "a ref struct ('Span<byte>')")]
    [InlineData("ReadOnlySpan<char> /*!*/value", "value", "a ref struct ('ReadOnlySpan<char>')")]
    [InlineData("int* /*!*/value", "value", "a pointer ('int*')")]
    public async Task Analyze_ParameterByReference_ReportsCR0003(string parameter, string located, string detail)
    {
        var body = parameter.StartsWith("out", StringComparison.Ordinal) ? "{ value = 0; }" : "{ }";
        await AssertSingleAsync("CR0003", located, "'Jobs.Fill'", detail, $$"""
            namespace MyApp;
            public static unsafe class Jobs
            {
                [Remote] public static void Fill(int first, {{parameter}}) {{body}}
            }
            """);
    }

    [Theory]
    [InlineData("Stream", "'Stream' is a stream")]
    [InlineData("MemoryStream", "'MemoryStream' is a stream")]
    [InlineData("Func<int>", "'Func<int>' is a delegate")]
    [InlineData("Task<int>", "'Task<int>' is a task")]
    [InlineData("ValueTask", "'ValueTask' is a task")]
    [InlineData("IntPtr", "is a native handle")]
    [InlineData("nuint", "'nuint' is a native handle")]
    [InlineData("Type", "'Type' cannot be serialized")]
    [InlineData("List<Stream>", "'List<Stream>' contains 'Stream', which is a stream")]
    [InlineData("Dictionary<string, Action>", "'Dictionary<string, Action>' contains 'Action', which is a delegate")]
    [InlineData("(int, Stream)", "'(int, Stream)' contains 'Stream'")]
    [InlineData("Func<int>[]", "'Func<int>[]' contains 'Func<int>'")]
    [InlineData("IAsyncEnumerable<int>", "is a lazy sequence")]
    [InlineData("InvalidOperationException", "'InvalidOperationException' is an exception, which would arrive without its stack trace")]
    [InlineData("List<Exception>", "'List<Exception>' contains 'Exception', which is an exception")]
    [InlineData("double[,,,,]", "'double[,,,,]' has more than 4 dimensions")]
    [InlineData("List<int[,,,,,]>", "contains 'int[,,,,,]', which has more than 4 dimensions")]
    [InlineData("Shared<Stream>", "'Shared<Stream>' contains 'Stream', which is a stream")]
    [InlineData("Shared<Func<int>>", "'Shared<Func<int>>' contains 'Func<int>', which is a delegate")]
    [InlineData("List<Shared<int>>", "'List<Shared<int>>' contains 'Shared<int>', which is a handle to a value shared with the workers, which travels only as a parameter of its own")]
    [InlineData("Shared<Shared<int>>", "'Shared<Shared<int>>' contains 'Shared<int>', which is a handle")]
    public async Task Analyze_UnserializableParameter_ReportsCR0004(string type, string detail)
    {
        await AssertSingleAsync("CR0004", "data", "'Jobs.Upload'", detail, $$"""
            namespace MyApp;
            public static class Jobs
            {
                [Remote] public static void Upload(int id, {{type}} /*!*/data) { }
            }
            """);
    }

    [Fact]
    public async Task Analyze_SharedParameterOfSerializableTypes_ReportsNothing()
    {
        var diagnostics = await TestCompilation.AnalyzeAsync("""
            namespace MyApp;

            public sealed record Model(double[] Weights, Dictionary<string, int> Vocabulary);

            public static class Jobs
            {
                [Remote] public static long Score(Shared<byte[]> model, int i) => model.Value[i];
                [Remote] public static Task<double> PredictAsync(Shared<Model> model, string text, CancellationToken ct) => Task.FromResult(model.Value.Weights[0]);
                [Remote] public static int Count(Shared<List<Model>?>? models) => models?.Value?.Count ?? 0;
            }

            public static class Caller
            {
                public static async Task RunAsync(Cluster cluster, Model model)
                {
                    await using var shared = await cluster.ShareAsync(model);
                    _ = await cluster.MapAsync(Jobs.PredictAsync, new[] { (shared, "a"), (shared, "b") });
                    _ = await cluster.SubmitAsync(Jobs.PredictAsync, shared, "c");
                }
            }
            """);

        diagnostics.Should().BeEmpty();
    }

    [Fact]
    public async Task Analyze_CancellationTokenNotLast_ReportsCR0004()
    {
        await AssertSingleAsync("CR0004", "ct", "'Jobs.Run'", "move it to the end", """
            namespace MyApp;
            public static class Jobs
            {
                [Remote] public static int Run(CancellationToken /*!*/ct, int x) => x;
            }
            """);
    }

    [Theory]
    [InlineData("Stream", "Stream.Null", "'Stream' is a stream")]
    [InlineData("Task<Stream>", "Task.FromResult(Stream.Null)", "'Stream' is a stream")]
    [InlineData("ValueTask<Func<int>>", "default", "'Func<int>' is a delegate")]
    [InlineData("IEnumerator<int>", "null!", "is a lazy sequence")]
    [InlineData("List<Task<int>>", "null!", "'List<Task<int>>' contains 'Task<int>', which is a task")]
    [InlineData("nint", "0", "is a native handle")]
    [InlineData("Shared<int>", "null!", "'Shared<int>' is a handle to a value shared with the workers, which travels only as a parameter of its own; declare the parameter as Shared<T>, or pass or return the value itself")]
    [InlineData("Task<Shared<string>>", "null!", "'Shared<string>' is a handle")]
    public async Task Analyze_UnserializableReturnType_ReportsCR0005(string type, string value, string detail)
    {
        await AssertSingleAsync("CR0005", type, "'Jobs.Open'", detail, $$"""
            namespace MyApp;
            public static class Jobs
            {
                [Remote] public static /*!*/{{type}} Open(string path) => {{value}};
            }
            """);
    }

    [Fact]
    public async Task Analyze_ReturnsByReference_ReportsCR0005()
    {
        await AssertSingleAsync("CR0005", "ref int", "'Jobs.Slot'", "returns by reference", """
            namespace MyApp;
            public static class Jobs
            {
                private static int _slot;
                [Remote] public static /*!*/ref int Slot() => ref _slot;
            }
            """);
    }

    [Fact]
    public async Task Analyze_FiveParameters_ReportsCR0006()
    {
        await AssertSingleAsync("CR0006", "Sum", "'Jobs.Sum'", "takes 5 parameters", """
            namespace MyApp;
            public static class Jobs
            {
                [Remote] public static int /*!*/Sum(int a, int b, int c, int d, int e, CancellationToken ct) => a;
            }
            """);
    }

    [Theory]
    [InlineData("public static class Jobs { [Remote] private static int /*!*/Run() => 0; }", "Jobs.Run", "it is private")]
    [InlineData("public class Jobs { [Remote] protected static int /*!*/Run() => 0; }", "Jobs.Run", "it is protected")]
    [InlineData("public class Jobs { [Remote] private protected static int /*!*/Run() => 0; }", "Jobs.Run", "it is private protected")]
    [InlineData("public static class Outer { private static class Jobs { [Remote] public static int /*!*/Run() => 0; } }", "Outer.Jobs.Run", "its containing type 'Jobs' is private")]
    [InlineData("public class Outer { protected static class Jobs { [Remote] internal static int /*!*/Run() => 0; } }", "Outer.Jobs.Run", "its containing type 'Jobs' is protected")]
    [InlineData("file static class Jobs { [Remote] public static int /*!*/Run() => 0; }", "Jobs.Run", "its containing type 'Jobs' is file-local")]
    public async Task Analyze_InaccessibleMethod_ReportsCR0009(string declaration, string method, string detail)
    {
        await AssertSingleAsync("CR0009", "Run", $"'{method}'", detail, "namespace MyApp;\n" + declaration);
    }

    [Fact]
    public async Task Analyze_OverloadsDifferingOnlyByTrailingToken_ReportNothing()
    {
        var diagnostics = await TestCompilation.AnalyzeAsync("""
            namespace MyApp;
            public static class Jobs
            {
                [Remote] public static string Tag(int x) => "plain";
                [Remote] public static string Tag(int x, CancellationToken ct) => "cancellable";
            }
            public static class Caller
            {
                // Jobs.Tag alone would be ambiguous between the two overloads (CS0121); a delegate type picks one.
                public static async Task RunAsync(Cluster cluster)
                {
                    _ = await cluster.SubmitAsync((Func<int, string>)Jobs.Tag, 1);
                    _ = await cluster.SubmitAsync(new Func<int, CancellationToken, string>(Jobs.Tag), 1);
                }
            }
            """);

        diagnostics.Should().BeEmpty();
    }

    [Fact]
    public async Task Analyze_RemoteOnLocalFunction_ReportsCR0011AtTheAttribute()
    {
        var diagnostics = await TestCompilation.AnalyzeAsync("""
            namespace MyApp;
            public static class Jobs
            {
                public static int Run(int x)
                {
                    return Twice(x);

                    [/*!*/Remote] static int Twice(int x) => x * 2;
                }
            }
            """);

        DiagnosticAssert.Exactly(diagnostics, new ExpectedDiagnostic(
            "CR0011",
            "Remote",
            "[Remote] on local function 'Twice' has no effect, because a worker can only call methods of types; move the code to a static method of a type and mark that method [Remote]"));
    }

    [Fact]
    public async Task Analyze_RemoteOnLambda_ReportsCR0011AtTheAttribute()
    {
        var diagnostics = await TestCompilation.AnalyzeAsync("""
            namespace MyApp;
            public static class Jobs
            {
                public static Func<int, int> Twice { get; } = [/*!*/Remote(Retries = 1)] (int x) => x * 2;
            }
            """);

        DiagnosticAssert.Exactly(diagnostics, new ExpectedDiagnostic(
            "CR0011",
            "Remote(Retries = 1)",
            "[Remote] on a lambda has no effect, because a worker can only call methods of types; move the code to a static method of a type and mark that method [Remote]"));
    }

    [Theory]
    [InlineData("public static int /*!*/F(int x) => x;", "F")]
    [InlineData("public int /*!*/Size() => s.Length;", "Size")]
    public async Task Analyze_RemoteMethodInExtensionBlock_ReportsOnlyCR0012(string member, string name)
    {
        var diagnostics = await TestCompilation.AnalyzeAsync($$"""
            namespace MyApp;
            public static class Ext14
            {
                extension(string s)
                {
                    [Remote] {{member}}
                }
            }
            """);

        DiagnosticAssert.Exactly(diagnostics, new ExpectedDiagnostic(
            "CR0012",
            name,
            $"[Remote] method 'Ext14.{name}' is declared in an extension block, which the generated stub cannot call; "
            + "move it out of the block to a static method of a static class (such as 'Ext14') and keep [Remote] on it"));
    }

    private static async Task AssertSingleAsync(string id, string located, string named, string detail, string source)
    {
        var diagnostics = await TestCompilation.AnalyzeAsync(source);

        var diagnostic = diagnostics.Should().ContainSingle().Which;
        diagnostic.Id.Should().Be(id);
        diagnostic.Severity.Should().Be(DiagnosticSeverity.Error);
        diagnostic.Descriptor.Category.Should().Be("Coiled.Remote");
        diagnostic.Descriptor.HelpLinkUri.Should().Be($"https://github.com/coiled-remote/coiled-remote/blob/main/docs/diagnostics/{id}.md");

        var message = diagnostic.GetMessage(System.Globalization.CultureInfo.InvariantCulture);
        message.Should().Contain(named).And.Contain(detail);

        var tree = diagnostic.Location.SourceTree!;
        tree.ToString().Should().Contain(Marker);
        diagnostic.Location.SourceSpan.Start.Should().Be(tree.ToString().IndexOf(Marker, StringComparison.Ordinal) + Marker.Length);
        tree.GetText().ToString(diagnostic.Location.SourceSpan).Should().Be(located);
    }
}
