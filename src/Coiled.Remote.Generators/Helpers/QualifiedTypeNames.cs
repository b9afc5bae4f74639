using System.Collections.Generic;
using System.Text;
using Microsoft.CodeAnalysis;

namespace Coiled.Remote.Generators.Helpers;

/// <summary>
/// Writes types for generated code, fully qualified from <c>global::</c> and keeping <c>?</c> so that nullable
/// signatures match; a type from an assembly referenced only under an extern alias (<c>&lt;Reference Aliases="Y"/&gt;</c>)
/// is qualified from that alias instead (<c>Y::Lib.Point</c>), which the generated file then declares
/// (<c>extern alias Y;</c>). From <c>global::</c>, such a type would not be found, or would be another assembly's type of
/// the same name.
/// </summary>
internal sealed class QualifiedTypeNames(Compilation compilation)
{
    private static readonly SymbolDisplayFormat CodeFormat = SymbolDisplayFormat.FullyQualifiedFormat
        .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

    private readonly SortedSet<string> _aliases = new(System.StringComparer.Ordinal);

    /// <summary>The extern aliases the names written so far use.</summary>
    public IEnumerable<string> Aliases => _aliases;

    public string Of(ITypeSymbol type)
    {
        var parts = type.ToDisplayParts(CodeFormat);
        var text = new StringBuilder();
        for (var i = 0; i < parts.Length; i++)
        {
            // "global" "::" then the namespaces and the outermost type of one qualified name: its assembly says the alias.
            if (parts[i].Kind == SymbolDisplayPartKind.Keyword && parts[i].ToString() == "global"
                && i + 1 < parts.Length && parts[i + 1].ToString() == "::"
                && OutermostTypeAfter(parts, i + 2) is { } named
                && AliasOf(named.ContainingAssembly) is { } alias)
            {
                _aliases.Add(alias);
                text.Append(alias);
                continue;
            }

            text.Append(parts[i].ToString());
        }

        return text.ToString();
    }

    /// <summary>The first type named from <paramref name="start"/> on, past the namespaces that qualify it.</summary>
    private static INamedTypeSymbol? OutermostTypeAfter(System.Collections.Immutable.ImmutableArray<SymbolDisplayPart> parts, int start)
    {
        for (var i = start; i < parts.Length; i++)
        {
            switch (parts[i].Symbol)
            {
                case INamedTypeSymbol named:
                    return named;
                case INamespaceSymbol:
                    continue;
                default:
                    if (parts[i].ToString() != ".")
                    {
                        return null;
                    }

                    continue;
            }
        }

        return null;
    }

    /// <summary>The alias to qualify the types of <paramref name="assembly"/> from, or null when <c>global::</c> reaches them.</summary>
    private string? AliasOf(IAssemblySymbol? assembly)
    {
        if (assembly is null || SymbolEqualityComparer.Default.Equals(assembly, compilation.Assembly)
            || compilation.GetMetadataReference(assembly) is not { } reference)
        {
            return null;
        }

        var aliases = reference.Properties.Aliases;
        return aliases.IsDefaultOrEmpty || aliases.Contains("global") ? null : aliases[0];
    }
}
