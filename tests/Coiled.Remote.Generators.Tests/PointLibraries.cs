using Microsoft.CodeAnalysis;

namespace Coiled.Remote.Generators.Tests;

/// <summary>
/// Two libraries that both declare <c>Lib.Point</c>: one referenced as usual, one only under the extern alias <c>Y</c>
/// (as two versions of one package can be). [Remote] overloads taking one and the other have the same stub id.
/// </summary>
internal static class PointLibraries
{
    private const string Source = "namespace Lib { public sealed record Point(double X, double Y); }";

    public static readonly IReadOnlyList<MetadataReference> Both =
    [
        TestCompilation.Library("Lib.Points", Source),
        TestCompilation.Library("Lib.Points.V2", Source, "Y"),
    ];

    /// <summary>Two [Remote] overloads, <c>Area(Lib.Point)</c> and <c>Area(Y::Lib.Point)</c>, each marked <c>/*!*/</c>.</summary>
    public const string Overloads = """
        extern alias Y;
        namespace MyApp;

        public static class Jobs
        {
            [Remote] public static double /*!*/Area(Lib.Point p) => p.X * p.Y;
            [Remote] public static double /*!*/Area(Y::Lib.Point p) => p.X * p.Y;
            [Remote] public static double Square(double x) => x * x;
        }
        """;

    public const string DuplicateMessage =
        "[Remote] method 'Jobs.Area' has the stub id 'MyApp.Jobs.Area(Lib.Point)', which another [Remote] overload has too, "
        + "so a worker could not tell them apart; rename one of them";
}
