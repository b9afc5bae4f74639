using System.Linq;
using Microsoft.CodeAnalysis;

namespace Coiled.Remote.Generators;

/// <summary>
/// The stable id of a [Remote] method, <c>Namespace.Type.Method(ParameterTypes)</c>: the generated stub carries it, the
/// client sends it with every task, and the worker looks the stub up by it. The caller side never computes it; it finds
/// the stub by the delegate's method and reads the id from there.
/// </summary>
internal static class RemoteMethodId
{
    /// <summary>Types in ids: <c>System.Double</c>, <c>MyApp.Outer.Inner</c>; no <c>global::</c>, no nullable annotations.</summary>
    private static readonly SymbolDisplayFormat IdFormat = new(
        globalNamespaceStyle: SymbolDisplayGlobalNamespaceStyle.Omitted,
        typeQualificationStyle: SymbolDisplayTypeQualificationStyle.NameAndContainingTypesAndNamespaces,
        genericsOptions: SymbolDisplayGenericsOptions.IncludeTypeParameters,
        miscellaneousOptions: SymbolDisplayMiscellaneousOptions.ExpandNullable | SymbolDisplayMiscellaneousOptions.ExpandValueTuple);

    /// <summary>
    /// The id, every parameter included: a trailing <c>CancellationToken</c> is part of it, so that <c>Bar(int)</c> and
    /// <c>Bar(int, CancellationToken)</c>, which a caller passes as different method groups, have different stubs.
    /// </summary>
    public static string Of(IMethodSymbol method)
        => $"{method.ContainingType.ToDisplayString(IdFormat)}.{method.Name}"
            + $"({string.Join(",", method.Parameters.Select(static p => p.Type.ToDisplayString(IdFormat)))})";
}
