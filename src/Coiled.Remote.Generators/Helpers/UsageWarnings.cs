using System.Collections.Generic;
using Microsoft.CodeAnalysis;

namespace Coiled.Remote.Generators.Helpers;

/// <summary>
/// What the compiler reports where generated code uses a [Remote] method and the types of its signature, though the
/// user's own code that declares them does not break: <c>[Obsolete]</c> (CS0612, CS0618; CS0619 when it is an error)
/// and <c>[Experimental("ID")]</c>. The stub suppresses these, so a method kept working for old callers, or one that
/// uses an experimental API the user opted into, still gets a stub that compiles.
/// </summary>
internal sealed class UsageWarnings
{
    private readonly SortedSet<string> _ids = new(System.StringComparer.Ordinal);

    private UsageWarnings()
    {
    }

    /// <summary>The diagnostic ids to suppress in the generated file.</summary>
    public IEnumerable<string> Ids => _ids;

    /// <summary>
    /// Whether the method or a type that contains it is obsolete: its stub is then marked obsolete as well, the one
    /// way to use an obsolete member that is an error (CS0619) without an error.
    /// </summary>
    public bool InObsoleteContext { get; private set; }

    public static UsageWarnings Of(IMethodSymbol method)
    {
        var warnings = new UsageWarnings();
        for (ISymbol? symbol = method; symbol is IMethodSymbol or INamedTypeSymbol; symbol = symbol.ContainingType)
        {
            warnings.InObsoleteContext |= warnings.Read(symbol);
        }

        foreach (var parameter in method.Parameters)
        {
            warnings.ReadType(parameter.Type);
        }

        warnings.ReadType(method.ReturnType);
        return warnings;
    }

    private void ReadType(ITypeSymbol type)
    {
        switch (type)
        {
            case IArrayTypeSymbol array:
                ReadType(array.ElementType);
                break;
            case INamedTypeSymbol named:
                for (var current = named; current is not null; current = current.ContainingType)
                {
                    Read(current);
                    foreach (var argument in current.TypeArguments)
                    {
                        ReadType(argument);
                    }
                }

                Read(named.ContainingModule);
                Read(named.ContainingAssembly);
                break;
        }
    }

    /// <summary>Adds what <paramref name="symbol"/> is marked with; returns whether it is obsolete.</summary>
    private bool Read(ISymbol? symbol)
    {
        var obsolete = false;
        foreach (var attribute in symbol?.GetAttributes() ?? [])
        {
            switch (attribute.AttributeClass?.ToDisplayString())
            {
                case "System.ObsoleteAttribute":
                    obsolete = true;
                    _ids.Add("CS0612");
                    _ids.Add("CS0618");
                    break;
                case "System.Diagnostics.CodeAnalysis.ExperimentalAttribute"
                    when attribute.ConstructorArguments.Length == 1 && attribute.ConstructorArguments[0].Value is string { Length: > 0 } id:
                    _ids.Add(id);
                    break;
            }
        }

        return obsolete;
    }
}
