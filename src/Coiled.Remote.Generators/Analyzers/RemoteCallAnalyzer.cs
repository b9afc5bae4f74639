using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace Coiled.Remote.Generators.Analyzers;

/// <summary>
/// Reports what is passed to a parameter marked <c>[RemoteMethodParameter]</c> (the <c>method</c> of every Cluster
/// method that runs a [Remote] method, and of users' own wrappers) that is not a [Remote] method passed by name: a lambda,
/// anonymous method or local function (CR0007), a method without [Remote] (CR0008), a delegate held in a variable or
/// computed (CR0013), or an extension method bound to a receiver (CR0014). The attribute, not a list of names, says which
/// calls to check, so a Cluster method added later is checked as soon as its parameter carries it.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class RemoteCallAnalyzer : DiagnosticAnalyzer
{
    public const string MarkerMetadataName = "Coiled.Remote.RemoteMethodParameterAttribute";

    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(
        DiagnosticDescriptors.LambdaPassed,
        DiagnosticDescriptors.MethodNotRemote,
        DiagnosticDescriptors.DelegateValuePassed,
        DiagnosticDescriptors.BoundToReceiver);

    /// <inheritdoc/>
    public override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.RegisterCompilationStartAction(static start =>
        {
            var marker = start.Compilation.GetTypeByMetadataName(MarkerMetadataName);
            var remoteAttribute = start.Compilation.GetTypeByMetadataName(RemoteMethodRules.RemoteAttributeMetadataName);
            if (marker is null || remoteAttribute is null)
            {
                return;
            }

            start.RegisterOperationAction(
                context => AnalyzeCall(context, marker, remoteAttribute),
                OperationKind.Invocation,
                OperationKind.ObjectCreation);
        });
    }

    private static void AnalyzeCall(OperationAnalysisContext context, INamedTypeSymbol marker, INamedTypeSymbol remoteAttribute)
    {
        var (target, arguments) = context.Operation switch
        {
            IInvocationOperation invocation => (invocation.TargetMethod, invocation.Arguments),
            IObjectCreationOperation { Constructor: { } constructor } creation => (constructor, creation.Arguments),
            _ => (null, ImmutableArray<IArgumentOperation>.Empty),
        };

        foreach (var argument in arguments)
        {
            if (argument.Parameter is { } parameter && RemoteMethodRules.HasAttribute(parameter.OriginalDefinition, marker))
            {
                new Check(context, CalleeName(target!), marker, remoteAttribute).Value(argument.Value);
            }
        }
    }

    /// <summary>How messages name the method called: <c>Cluster.MapAsync</c>, or <c>new Job</c> for a constructor.</summary>
    private static string CalleeName(IMethodSymbol method)
        => method.MethodKind == MethodKind.Constructor
            ? $"new {method.ContainingType.ToDisplayString(SymbolDisplayFormat.CSharpShortErrorMessageFormat)}"
            : RemoteMethodRules.DisplayName(method);

    /// <summary>Follows the value passed for one marked parameter down to the method it names, and reports what it finds.</summary>
    private readonly struct Check(OperationAnalysisContext context, string callee, INamedTypeSymbol marker, INamedTypeSymbol remoteAttribute)
    {
        public void Value(IOperation value)
        {
            switch (Unwrap(value))
            {
                case IDelegateCreationOperation creation:
                    Target(Unwrap(creation.Target));
                    break;
                case IConditionalOperation conditional:
                    Value(conditional.WhenTrue);
                    Value(conditional.WhenFalse!);
                    break;
                case ILiteralOperation or IDefaultValueOperation:
                    // null: the call throws ArgumentNullException, as any method does.
                    break;
                case IParameterReferenceOperation reference when RemoteMethodRules.HasAttribute(reference.Parameter.OriginalDefinition, marker):
                    // Passed on from a marked parameter: the analyzer checks what its callers pass.
                    break;
                case IParameterReferenceOperation reference:
                    var method = reference.Parameter.ContainingSymbol is IMethodSymbol containing ? RemoteMethodRules.DisplayName(containing) : "its method";
                    Report(DiagnosticDescriptors.DelegateValuePassed, value, callee, $"parameter '{reference.Parameter.Name}'",
                        $", or mark parameter '{reference.Parameter.Name}' [RemoteMethodParameter] so that the callers of {method} are checked instead");
                    break;
                case var other:
                    Report(DiagnosticDescriptors.DelegateValuePassed, value, callee, Describe(other), string.Empty);
                    break;
            }
        }

        private void Target(IOperation target)
        {
            switch (target)
            {
                case IAnonymousFunctionOperation function:
                    var what = function.Syntax is AnonymousMethodExpressionSyntax ? "An anonymous method" : "A lambda";
                    Report(DiagnosticDescriptors.LambdaPassed, function, callee, what);
                    break;
                case IMethodReferenceOperation { Method.MethodKind: MethodKind.LocalFunction } reference:
                    Report(DiagnosticDescriptors.LambdaPassed, reference, callee, $"Local function '{reference.Method.Name}'");
                    break;
                case IMethodReferenceOperation { Method.MethodKind: MethodKind.DelegateInvoke, Instance: { } instance }:
                    // d.Invoke, or new Func<double, double>(d): the method is whatever d holds.
                    Value(instance);
                    break;
                case IMethodReferenceOperation reference:
                    Method(reference);
                    break;
                default:
                    Value(target);
                    break;
            }
        }

        private void Method(IMethodReferenceOperation reference)
        {
            var method = (reference.Method.ReducedFrom ?? reference.Method).OriginalDefinition;
            if (!RemoteMethodRules.HasAttribute(method, remoteAttribute))
            {
                Report(DiagnosticDescriptors.MethodNotRemote, reference, RemoteMethodRules.DisplayName(method), callee);
            }
            else if (reference.Instance is { } receiver && (method.IsExtensionMethod || method.ContainingType is { IsExtension: true }))
            {
                Report(DiagnosticDescriptors.BoundToReceiver, reference, RemoteMethodRules.DisplayName(method), callee, receiver.Syntax.ToString());
            }

            // A [Remote] instance method bound to its instance is reported where it is declared (CR0001).
        }

        private void Report(DiagnosticDescriptor descriptor, IOperation at, params object[] messageArgs)
            => context.ReportDiagnostic(Diagnostic.Create(descriptor, at.Syntax.GetLocation(), messageArgs));

        private static string Describe(IOperation value) => value switch
        {
            ILocalReferenceOperation local => $"local variable '{local.Local.Name}'",
            IFieldReferenceOperation field => $"field '{field.Field.ContainingType.Name}.{field.Field.Name}'",
            IPropertyReferenceOperation property => $"property '{property.Property.ContainingType.Name}.{property.Property.Name}'",
            _ => $"the expression '{value.Syntax}'",
        };

        private static IOperation Unwrap(IOperation operation)
        {
            while (operation is IConversionOperation { Operand: var operand })
            {
                operation = operand;
            }

            return operation;
        }
    }
}
