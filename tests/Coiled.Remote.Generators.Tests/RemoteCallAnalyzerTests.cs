using System.Reflection;

namespace Coiled.Remote.Generators.Tests;

/// <summary>
/// What is passed to a parameter marked [RemoteMethodParameter] (every Cluster method that runs a [Remote] method, and
/// users' own wrappers) must be a [Remote] method passed by name; everything else is reported where it is passed.
/// </summary>
public sealed class RemoteCallAnalyzerTests
{
    private const string Jobs = """
        namespace MyApp;

        public static class Jobs
        {
            [Remote] public static double Square(double x) => x * x;
            public static double NotRemote(double x) => x;
        }

        public static class StringJobs
        {
            [Remote] public static int Len(this string s) => s.Length;
        }
        """;

    private const string Advice = "move its body into a static [Remote] method of a type and pass that method by name";

    [Theory]
    [InlineData("SubmitAsync", "x => x * 2.0, 1.0")]
    [InlineData("MapAsync", "x => x * 2.0, new[] { 1.0 }")]
    [InlineData("MapOutcomesAsync", "x => x * 2.0, new[] { 1.0 }")]
    [InlineData("MapStreamAsync", "x => x * 2.0, new[] { 1.0 }")]
    public async Task Analyze_LambdaPassedToEveryClusterMethod_ReportsCR0007(string method, string arguments)
    {
        var diagnostics = await TestCompilation.AnalyzeAsync(Jobs, $$"""
            namespace MyApp;
            public static class Caller
            {
                public static object Run(Cluster cluster) => cluster.{{method}}(/*!*/{{arguments}});
            }
            """);

        DiagnosticAssert.Exactly(diagnostics, new ExpectedDiagnostic(
            "CR0007",
            "x => x * 2.0",
            $"A lambda passed to Cluster.{method} cannot run on a worker; {Advice}, as in Cluster.{method}(Jobs.Square, ...)"));
    }

    [Fact]
    public async Task Analyze_AnonymousMethodPassedToSubmitAsync_ReportsCR0007()
    {
        var diagnostics = await TestCompilation.AnalyzeAsync(Jobs, """
            namespace MyApp;
            public static class Caller
            {
                public static Task<int> RunAsync(Cluster cluster)
                    => cluster.SubmitAsync(/*!*/delegate (int x) { return x; }, 3);
            }
            """);

        DiagnosticAssert.Exactly(diagnostics, new ExpectedDiagnostic(
            "CR0007",
            "delegate (int x) { return x; }",
            $"An anonymous method passed to Cluster.SubmitAsync cannot run on a worker; {Advice}, as in Cluster.SubmitAsync(Jobs.Square, ...)"));
    }

    [Fact]
    public async Task Analyze_LocalFunctionPassedToMapStreamAsync_ReportsCR0007()
    {
        var diagnostics = await TestCompilation.AnalyzeAsync(Jobs, """
            namespace MyApp;
            public static class Caller
            {
                public static IAsyncEnumerable<double> Run(Cluster cluster)
                {
                    static double Twice(double x) => x * 2;
                    return cluster.MapStreamAsync(/*!*/Twice, new[] { 1.0 });
                }
            }
            """);

        DiagnosticAssert.Exactly(diagnostics, new ExpectedDiagnostic(
            "CR0007",
            "Twice",
            $"Local function 'Twice' passed to Cluster.MapStreamAsync cannot run on a worker; {Advice}, as in Cluster.MapStreamAsync(Jobs.Square, ...)"));
    }

    [Fact]
    public async Task Analyze_RemoteLocalFunctionPassed_ReportsCR0011AtTheAttributeAndCR0007AtTheCall()
    {
        var diagnostics = await TestCompilation.AnalyzeAsync(Jobs, """
            namespace MyApp;
            public static class Caller
            {
                public static Task<double[]> RunAsync(Cluster cluster)
                {
                    [/*!*/Remote] static double Twice(double x) => x * 2;
                    return cluster.MapAsync(/*!*/Twice, new[] { 1.0 });
                }
            }
            """);

        DiagnosticAssert.Exactly(
            diagnostics,
            new ExpectedDiagnostic(
                "CR0011",
                "Remote",
                "[Remote] on local function 'Twice' has no effect, because a worker can only call methods of types; move the code to a static method of a type and mark that method [Remote]"),
            new ExpectedDiagnostic(
                "CR0007",
                "Twice",
                $"Local function 'Twice' passed to Cluster.MapAsync cannot run on a worker; {Advice}, as in Cluster.MapAsync(Jobs.Square, ...)"));
    }

    [Fact]
    public async Task Analyze_RemoteLambdaPassed_ReportsCR0007AtTheLambdaAndCR0011AtTheAttribute()
    {
        var diagnostics = await TestCompilation.AnalyzeAsync(Jobs, """
            namespace MyApp;
            public static class Caller
            {
                public static Task<double[]> RunAsync(Cluster cluster)
                    => cluster.MapAsync(/*!*/[/*!*/Remote] (double x) => x * 2, new[] { 1.0 });
            }
            """);

        DiagnosticAssert.Exactly(
            diagnostics,
            new ExpectedDiagnostic(
                "CR0007",
                "[/*!*/Remote] (double x) => x * 2",
                $"A lambda passed to Cluster.MapAsync cannot run on a worker; {Advice}, as in Cluster.MapAsync(Jobs.Square, ...)"),
            new ExpectedDiagnostic(
                "CR0011",
                "Remote",
                "[Remote] on a lambda has no effect, because a worker can only call methods of types; move the code to a static method of a type and mark that method [Remote]"));
    }

    [Theory]
    [InlineData("SubmitAsync", "Jobs.NotRemote, 1.0")]
    [InlineData("MapOutcomesAsync", "Jobs.NotRemote, new[] { 1.0 }")]
    public async Task Analyze_MethodWithoutRemotePassed_ReportsCR0008(string method, string arguments)
    {
        var diagnostics = await TestCompilation.AnalyzeAsync(Jobs, $$"""
            namespace MyApp;
            public static class Caller
            {
                public static object Run(Cluster cluster) => cluster.{{method}}(/*!*/{{arguments}});
            }
            """);

        DiagnosticAssert.Exactly(diagnostics, new ExpectedDiagnostic(
            "CR0008",
            "Jobs.NotRemote",
            $"Method 'Jobs.NotRemote' passed to Cluster.{method} is not marked [Remote]; add [Remote] to it so that a stub is generated for the workers"));
    }

    [Theory]
    [InlineData("/*!*/local", "local", "local variable 'local'")]
    [InlineData("/*!*/Holder.Field", "Holder.Field", "field 'Holder.Field'")]
    [InlineData("/*!*/Holder.Property", "Holder.Property", "property 'Holder.Property'")]
    [InlineData("/*!*/Holder.Pick()", "Holder.Pick()", "the expression 'Holder.Pick()'")]
    [InlineData("new Func<double, double>(/*!*/local)", "local", "local variable 'local'")]
    [InlineData("/*!*/local.Invoke", "local", "local variable 'local'")]
    public async Task Analyze_DelegateHeldInAVariable_ReportsCR0013(string argument, string located, string source)
    {
        var diagnostics = await TestCompilation.AnalyzeAsync(Jobs, $$"""
            namespace MyApp;
            public static class Holder
            {
                public static Func<double, double> Field = Jobs.Square;
                public static Func<double, double> Property => Jobs.Square;
                public static Func<double, double> Pick() => Jobs.Square;
            }
            public static class Caller
            {
                public static Task<double[]> RunAsync(Cluster cluster)
                {
                    Func<double, double> local = Jobs.Square;
                    return cluster.MapAsync({{argument}}, new[] { 1.0 });
                }
            }
            """);

        DiagnosticAssert.Exactly(diagnostics, new ExpectedDiagnostic(
            "CR0013",
            located,
            $"The method passed to Cluster.MapAsync comes from {source}, so the build cannot check that it is a static [Remote] method; "
            + "pass the [Remote] method itself by name, as in Cluster.MapAsync(Jobs.Square, ...)"));
    }

    [Fact]
    public async Task Analyze_DelegateFromUnmarkedParameter_ReportsCR0013NamingTheAttribute()
    {
        var diagnostics = await TestCompilation.AnalyzeAsync(Jobs, """
            namespace MyApp;
            public static class Wrappers
            {
                public static Task<double[]> MapTwiceAsync(Cluster cluster, Func<double, double> method, double[] items)
                    => cluster.MapAsync(/*!*/method, items.Concat(items));
            }
            """);

        DiagnosticAssert.Exactly(diagnostics, new ExpectedDiagnostic(
            "CR0013",
            "method",
            "The method passed to Cluster.MapAsync comes from parameter 'method', so the build cannot check that it is a static [Remote] method; "
            + "pass the [Remote] method itself by name, as in Cluster.MapAsync(Jobs.Square, ...), "
            + "or mark parameter 'method' [RemoteMethodParameter] so that the callers of Wrappers.MapTwiceAsync are checked instead"));
    }

    [Fact]
    public async Task Analyze_WrapperWithMarkedParameter_ChecksWhatItsCallersPass()
    {
        var diagnostics = await TestCompilation.AnalyzeAsync(Jobs, """
            namespace MyApp;
            public static class Wrappers
            {
                public static Task<double[]> MapTwiceAsync(this Cluster cluster, [RemoteMethodParameter] Func<double, double> method, double[] items)
                    => cluster.MapAsync(method, items.Concat(items));
            }
            public static class Caller
            {
                public static async Task RunAsync(Cluster cluster, double[] items)
                {
                    _ = await cluster.MapTwiceAsync(Jobs.Square, items);
                    _ = await Wrappers.MapTwiceAsync(cluster, Jobs.Square, items);
                    _ = await cluster.MapTwiceAsync(/*!*/x => x, items);
                    _ = await Wrappers.MapTwiceAsync(cluster, /*!*/Jobs.NotRemote, items);
                }
            }
            """);

        DiagnosticAssert.Exactly(
            diagnostics,
            new ExpectedDiagnostic(
                "CR0007",
                "x => x",
                $"A lambda passed to Wrappers.MapTwiceAsync cannot run on a worker; {Advice}, as in Wrappers.MapTwiceAsync(Jobs.Square, ...)"),
            new ExpectedDiagnostic(
                "CR0008",
                "Jobs.NotRemote",
                "Method 'Jobs.NotRemote' passed to Wrappers.MapTwiceAsync is not marked [Remote]; add [Remote] to it so that a stub is generated for the workers"));
    }

    [Fact]
    public async Task Analyze_ConstructorWithMarkedParameter_ChecksWhatIsPassed()
    {
        var diagnostics = await TestCompilation.AnalyzeAsync(Jobs, """
            namespace MyApp;
            public sealed class Step([RemoteMethodParameter] Func<double, double> method)
            {
                public Func<double, double> Method { get; } = method;
            }
            public static class Caller
            {
                public static Step[] Steps() => [new Step(Jobs.Square), new Step(/*!*/Jobs.NotRemote)];
            }
            """);

        DiagnosticAssert.Exactly(diagnostics, new ExpectedDiagnostic(
            "CR0008",
            "Jobs.NotRemote",
            "Method 'Jobs.NotRemote' passed to new Step is not marked [Remote]; add [Remote] to it so that a stub is generated for the workers"));
    }

    [Fact]
    public async Task Analyze_ConditionalBetweenMethods_ChecksEachBranch()
    {
        var diagnostics = await TestCompilation.AnalyzeAsync(Jobs, """
            namespace MyApp;
            public static class Caller
            {
                public static Task<double[]> RunAsync(Cluster cluster, bool square)
                    => cluster.MapAsync<double, double>(square ? Jobs.Square : /*!*/Jobs.NotRemote, new[] { 1.0 });
            }
            """);

        DiagnosticAssert.Exactly(diagnostics, new ExpectedDiagnostic(
            "CR0008",
            "Jobs.NotRemote",
            "Method 'Jobs.NotRemote' passed to Cluster.MapAsync is not marked [Remote]; add [Remote] to it so that a stub is generated for the workers"));
    }

    [Fact]
    public async Task Analyze_ExtensionMethodBoundToReceiver_ReportsCR0014()
    {
        var diagnostics = await TestCompilation.AnalyzeAsync(Jobs, """
            namespace MyApp;
            public static class Caller
            {
                public static async Task RunAsync(Cluster cluster)
                {
                    _ = await cluster.SubmitAsync(StringJobs.Len, "abc");
                    _ = await cluster.SubmitAsync(/*!*/"abc".Len);
                }
            }
            """);

        DiagnosticAssert.Exactly(diagnostics, new ExpectedDiagnostic(
            "CR0014",
            "\"abc\".Len",
            "Extension method 'StringJobs.Len' is passed to Cluster.SubmitAsync bound to the receiver '\"abc\"', which does not travel to the worker; "
            + "pass StringJobs.Len itself and send the receiver as its first argument"));
    }

    [Fact]
    public void Cluster_EveryDelegateParameter_IsMarkedRemoteMethodParameter()
    {
        var delegateParameters = typeof(Cluster)
            .GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)
            .SelectMany(method => method.GetParameters())
            .Where(parameter => typeof(Delegate).IsAssignableFrom(parameter.ParameterType))
            .ToList();

        delegateParameters.Select(parameter => parameter.Member.Name).Distinct().Should().BeEquivalentTo(
            "SubmitAsync", "MapAsync", "MapOutcomesAsync", "MapStreamAsync");
        delegateParameters.Should().OnlyContain(
            parameter => parameter.GetCustomAttribute<RemoteMethodParameterAttribute>() != null,
            "the analyzer checks exactly the calls whose parameters carry the attribute");
    }
}
