namespace Coiled.Remote.Generators.Tests;

/// <summary>
/// A [Remote] method that is obsolete, even as an error, or experimental, or whose types are, keeps its stub, and the
/// generated file compiles without warnings: the user's own declaration is not reported, so neither is the stub's use.
/// </summary>
public sealed class UsageWarningTests
{
    [Fact]
    public void Generate_ObsoleteMethodAndObsoleteParameterType_CompileWithoutWarnings()
    {
        var (_, generated) = TestCompilation.GenerateClean("""
            namespace MyApp;

            [Obsolete("use Point")] public sealed record OldPoint(int X);

            public static class Jobs
            {
                [Remote, Obsolete("use Square")] public static int Old(int x) => x;
            #pragma warning disable CS0618
                [Remote] public static int Read(OldPoint p) => p.X;
            #pragma warning restore CS0618
            }
            """);

        generated.Should().Contain("#nullable enable\n\n#pragma warning disable CS0612, CS0618\n\n[assembly: ")
            .And.Contain("base(\"MyApp.Jobs.Old(System.Int32)\", ")
            .And.Contain("base(\"MyApp.Jobs.Read(MyApp.OldPoint)\", ");
    }

    [Fact]
    public void Generate_MethodInAnObsoleteAsErrorType_GetsAStubMarkedObsoleteThatCompiles()
    {
        var (_, generated) = TestCompilation.GenerateClean("""
            namespace MyApp;

            [Obsolete("gone", error: true)]
            public static class OldJobs
            {
                [Remote] public static int Old(int x) => x;
            }
            """);

        generated.Should().Contain("[global::System.Obsolete]\n        private sealed class Stub0 : global::Coiled.Remote.Stubs.RemoteStub");
    }

    [Fact]
    public void Generate_ExperimentalMethod_SuppressesItsDiagnosticInTheStub()
    {
        var (_, generated) = TestCompilation.GenerateClean("""
            using System.Diagnostics.CodeAnalysis;
            namespace MyApp;

            public static class Jobs
            {
                [Remote, Experimental("MYEXP01")] public static int Try(int x) => x;
                [Remote] public static int Plain(int x) => x;
            }
            """);

        generated.Should().Contain("#pragma warning disable MYEXP01\n");
    }

    [Fact]
    public void Generate_NothingObsoleteOrExperimental_SuppressesNothing()
    {
        var (_, generated) = TestCompilation.GenerateClean("""
            namespace MyApp;
            public static class Jobs { [Remote] public static int Square(int x) => x * x; }
            """);

        generated.Should().NotContain("#pragma").And.NotContain("Obsolete");
    }
}
