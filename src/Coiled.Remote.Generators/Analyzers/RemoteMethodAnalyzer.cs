using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace Coiled.Remote.Generators.Analyzers;

/// <summary>
/// Reports [Remote] methods the generator cannot write a stub for (CR0001–CR0006, CR0009). The rules live in
/// <see cref="RemoteMethodRules"/>, which the generator uses to skip the same methods.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class RemoteMethodAnalyzer : DiagnosticAnalyzer
{
    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(
        DiagnosticDescriptors.NotStatic,
        DiagnosticDescriptors.Generic,
        DiagnosticDescriptors.ParameterByReference,
        DiagnosticDescriptors.ParameterNotSerializable,
        DiagnosticDescriptors.ReturnNotSerializable,
        DiagnosticDescriptors.TooManyParameters,
        DiagnosticDescriptors.NotAccessible);

    /// <inheritdoc/>
    public override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.RegisterCompilationStartAction(static start =>
        {
            var remoteAttribute = start.Compilation.GetTypeByMetadataName(RemoteMethodRules.RemoteAttributeMetadataName);
            if (remoteAttribute is null)
            {
                return;
            }

            start.RegisterSymbolAction(context => AnalyzeMethod(context, remoteAttribute), SymbolKind.Method);
        });
    }

    private static void AnalyzeMethod(SymbolAnalysisContext context, INamedTypeSymbol remoteAttribute)
    {
        var method = (IMethodSymbol)context.Symbol;
        if (!HasAttribute(method, remoteAttribute))
        {
            return;
        }

        foreach (var problem in RemoteMethodRules.FindProblems(method, context.CancellationToken))
        {
            context.ReportDiagnostic(problem.ToDiagnostic());
        }
    }

    internal static bool HasAttribute(IMethodSymbol method, INamedTypeSymbol remoteAttribute)
    {
        foreach (var attribute in method.GetAttributes())
        {
            if (SymbolEqualityComparer.Default.Equals(attribute.AttributeClass, remoteAttribute))
            {
                return true;
            }
        }

        return false;
    }
}
