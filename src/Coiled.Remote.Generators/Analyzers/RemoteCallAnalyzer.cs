using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace Coiled.Remote.Generators.Analyzers;

/// <summary>
/// Reports what is passed to <c>Cluster.MapAsync</c>, <c>SubmitAsync</c> and <c>MapStreamAsync</c> that a worker
/// cannot run: a lambda or anonymous method (CR0007), or a method without [Remote] (CR0008).
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class RemoteCallAnalyzer : DiagnosticAnalyzer
{
    private const string ClusterMetadataName = "Coiled.Remote.Cluster";

    private static readonly ImmutableHashSet<string> ClusterMethods =
        ImmutableHashSet.Create("MapAsync", "SubmitAsync", "MapStreamAsync");

    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(
        DiagnosticDescriptors.LambdaPassed,
        DiagnosticDescriptors.MethodNotRemote);

    /// <inheritdoc/>
    public override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.RegisterCompilationStartAction(static start =>
        {
            var cluster = start.Compilation.GetTypeByMetadataName(ClusterMetadataName);
            var remoteAttribute = start.Compilation.GetTypeByMetadataName(RemoteMethodRules.RemoteAttributeMetadataName);
            if (cluster is null || remoteAttribute is null)
            {
                return;
            }

            start.RegisterOperationAction(
                context => AnalyzeInvocation(context, cluster, remoteAttribute),
                OperationKind.Invocation);
        });
    }

    private static void AnalyzeInvocation(OperationAnalysisContext context, INamedTypeSymbol cluster, INamedTypeSymbol remoteAttribute)
    {
        var invocation = (IInvocationOperation)context.Operation;
        var target = invocation.TargetMethod;
        if (!ClusterMethods.Contains(target.Name)
            || !SymbolEqualityComparer.Default.Equals(target.ContainingType?.OriginalDefinition, cluster))
        {
            return;
        }

        // The method to run is the first delegate-typed argument (after 'this' should these become extension methods).
        IArgumentOperation? methodArgument = null;
        foreach (var argument in invocation.Arguments)
        {
            if (argument.Parameter?.Type.TypeKind == TypeKind.Delegate
                && (methodArgument is null || argument.Parameter.Ordinal < methodArgument.Parameter!.Ordinal))
            {
                methodArgument = argument;
            }
        }

        if (methodArgument is null || Unwrap(methodArgument.Value) is not IDelegateCreationOperation creation)
        {
            // A delegate held in a variable cannot be checked here; the cluster rejects it at run time.
            return;
        }

        switch (Unwrap(creation.Target))
        {
            case IAnonymousFunctionOperation lambda:
                context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.LambdaPassed, lambda.Syntax.GetLocation(), target.Name));
                break;
            case IMethodReferenceOperation reference
                when !RemoteMethodRules.HasAttribute(reference.Method.OriginalDefinition, remoteAttribute):
                context.ReportDiagnostic(Diagnostic.Create(
                    DiagnosticDescriptors.MethodNotRemote,
                    reference.Syntax.GetLocation(),
                    RemoteMethodRules.DisplayName(reference.Method),
                    target.Name));
                break;
        }
    }

    private static IOperation Unwrap(IOperation operation)
    {
        while (operation is IConversionOperation conversion)
        {
            operation = conversion.Operand;
        }

        return operation;
    }
}
