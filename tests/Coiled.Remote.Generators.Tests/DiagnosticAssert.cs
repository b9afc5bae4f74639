using System.Globalization;
using Microsoft.CodeAnalysis;

namespace Coiled.Remote.Generators.Tests;

/// <summary>One diagnostic a test expects: its id, the source text it spans, and its whole message.</summary>
internal sealed record ExpectedDiagnostic(string Id, string Located, string Message);

/// <summary>Checks reported diagnostics against the places marked <c>/*!*/</c> in the test source.</summary>
internal static class DiagnosticAssert
{
    public const string Marker = "/*!*/";

    /// <summary>
    /// Asserts that <paramref name="diagnostics"/> are exactly <paramref name="expected"/>, in source order: each an error
    /// of the Coiled.Remote category with its help page, starting right after a marker, spanning
    /// <see cref="ExpectedDiagnostic.Located"/>, with exactly <see cref="ExpectedDiagnostic.Message"/>; and that every
    /// marker has its diagnostic.
    /// </summary>
    public static void Exactly(IEnumerable<Diagnostic> diagnostics, params ExpectedDiagnostic[] expected)
    {
        var actual = diagnostics
            .OrderBy(d => d.Location.SourceTree?.FilePath, StringComparer.Ordinal)
            .ThenBy(d => d.Location.SourceSpan.Start)
            .ToList();
        actual.Select(d => $"{d.Id}: {d.GetMessage(CultureInfo.InvariantCulture)}").Should().Equal(
            expected.Select(e => $"{e.Id}: {e.Message}"));

        for (var i = 0; i < actual.Count; i++)
        {
            var diagnostic = actual[i];
            diagnostic.Severity.Should().Be(DiagnosticSeverity.Error);
            diagnostic.Descriptor.Category.Should().Be("Coiled.Remote");
            diagnostic.Descriptor.HelpLinkUri.Should().Be($"https://github.com/coiled-remote/coiled-remote/blob/main/docs/diagnostics/{diagnostic.Id}.md");

            var text = diagnostic.Location.SourceTree!.GetText();
            var span = diagnostic.Location.SourceSpan;
            text.ToString(span).Should().Be(expected[i].Located);
            span.Start.Should().BeGreaterThanOrEqualTo(Marker.Length);
            text.ToString(new Microsoft.CodeAnalysis.Text.TextSpan(span.Start - Marker.Length, Marker.Length))
                .Should().Be(Marker, "{0} must start right after a marker", diagnostic.Id);
        }

        var markers = actual
            .Select(d => d.Location.SourceTree!)
            .Distinct()
            .Sum(tree => CountMarkers(tree.ToString()));
        markers.Should().Be(actual.Count, "every marker must have its diagnostic");
    }

    private static int CountMarkers(string text)
    {
        var count = 0;
        for (var at = text.IndexOf(Marker, StringComparison.Ordinal); at >= 0; at = text.IndexOf(Marker, at + 1, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
