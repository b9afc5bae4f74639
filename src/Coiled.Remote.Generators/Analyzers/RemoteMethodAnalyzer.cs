using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace Coiled.Remote.Generators.Analyzers;

/// <summary>
/// Reports [Remote] methods the generator cannot write a stub for (CR0001–CR0006, CR0009, CR0010, CR0012, CR0015), and
/// [Remote] on a local function or lambda (CR0011). The rules for methods live in <see cref="RemoteMethodRules"/>,
/// which the generator uses to skip the same methods.
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
        DiagnosticDescriptors.NotAccessible,
        DiagnosticDescriptors.DuplicateId,
        DiagnosticDescriptors.NotAMethodOfAType,
        DiagnosticDescriptors.InExtensionBlock,
        DiagnosticDescriptors.InterfaceStaticMember);

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

            // Local functions and lambdas are not members, so symbol actions never see them; their operations do.
            start.RegisterOperationAction(
                context => AnalyzeFunction(context, ((ILocalFunctionOperation)context.Operation).Symbol, remoteAttribute),
                OperationKind.LocalFunction);
            start.RegisterOperationAction(
                context => AnalyzeFunction(context, ((IAnonymousFunctionOperation)context.Operation).Symbol, remoteAttribute),
                OperationKind.AnonymousFunction);
        });
    }

    private static void AnalyzeMethod(SymbolAnalysisContext context, INamedTypeSymbol remoteAttribute)
    {
        var method = (IMethodSymbol)context.Symbol;
        if (!RemoteMethodRules.HasAttribute(method, remoteAttribute))
        {
            return;
        }

        foreach (var problem in RemoteMethodRules.FindProblems(method, remoteAttribute, context.CancellationToken))
        {
            context.ReportDiagnostic(problem.ToDiagnostic());
        }
    }

    private static void AnalyzeFunction(OperationAnalysisContext context, IMethodSymbol function, INamedTypeSymbol remoteAttribute)
    {
        foreach (var attribute in function.GetAttributes())
        {
            if (SymbolEqualityComparer.Default.Equals(attribute.AttributeClass, remoteAttribute))
            {
                var what = function.MethodKind == MethodKind.LocalFunction ? $"local function '{function.Name}'" : "a lambda";
                var location = attribute.ApplicationSyntaxReference?.GetSyntax(context.CancellationToken).GetLocation()
                    ?? context.Operation.Syntax.GetLocation();
                context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.NotAMethodOfAType, location, what));
            }
        }
    }
}
