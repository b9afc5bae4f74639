using System.Linq;
using System.Text;
using System.Threading;
using Coiled.Remote.Generators.Helpers;
using Coiled.Remote.Generators.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Coiled.Remote.Generators;

public sealed partial class RemoteStubGenerator
{
    /// <summary>Turns a [Remote] method symbol into a <see cref="RemoteMethodSpec"/>, the last place symbols are seen.</summary>
    private static class Parser
    {
        public static RemoteMethodSpec? Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
        {
            if (context.TargetSymbol is not IMethodSymbol { MethodKind: MethodKind.Ordinary } method
                || context.Attributes.FirstOrDefault()?.AttributeClass is not { } remoteAttribute
                || RemoteMethodRules.FindProblems(method, remoteAttribute, cancellationToken).Count > 0
                || method.Parameters.Any(static p => ContainsError(p.Type))
                || ContainsError(method.ReturnType))
            {
                return null;
            }

            var acceptsCancellation = RemoteMethodRules.AcceptsCancellation(method);
            var arguments = acceptsCancellation
                ? method.Parameters.Take(method.Parameters.Length - 1).ToArray()
                : method.Parameters.ToArray();

            var (retries, timeoutSeconds) = ReadAttribute(context.Attributes[0]);
            var names = new QualifiedTypeNames(context.SemanticModel.Compilation);
            var warnings = UsageWarnings.Of(method);

            return new RemoteMethodSpec(
                RemoteMethodId.Of(method),
                names.Of(method.ContainingType),
                EscapeIdentifier(method.Name),
                arguments.Select(p => names.Of(p.Type)).ToEquatableArray(),
                acceptsCancellation,
                method.ReturnsVoid ? "void" : names.Of(method.ReturnType),
                ReturnKindOf(method),
                retries,
                timeoutSeconds,
                names.Aliases.ToEquatableArray(),
                warnings.Ids.ToEquatableArray(),
                warnings.InObsoleteContext);
        }

        /// <summary>The registry class name: the assembly name made into an identifier, plus <c>_RemoteStubs</c>.</summary>
        public static string RegistryClassName(string? assemblyName)
        {
            var builder = new StringBuilder();
            foreach (var c in assemblyName ?? string.Empty)
            {
                builder.Append(SyntaxFacts.IsIdentifierPartCharacter(c) ? c : '_');
            }

            if (builder.Length == 0 || !SyntaxFacts.IsIdentifierStartCharacter(builder[0]))
            {
                builder.Insert(0, '_');
            }

            return builder.Append("_RemoteStubs").ToString();
        }

        private static RemoteReturnKind ReturnKindOf(IMethodSymbol method)
        {
            if (method.ReturnsVoid)
            {
                return RemoteReturnKind.Nothing;
            }

            return SerializableTypes.IsNonGenericTask(method.ReturnType) || SerializableTypes.UnwrapGenericTask(method.ReturnType) is not null
                ? RemoteReturnKind.Awaited
                : RemoteReturnKind.Value;
        }

        private static (int Retries, int TimeoutSeconds) ReadAttribute(AttributeData attribute)
        {
            int retries = 0, timeoutSeconds = 0;
            foreach (var argument in attribute.NamedArguments)
            {
                if (argument.Value.Value is not int value)
                {
                    continue;
                }

                switch (argument.Key)
                {
                    case "Retries":
                        retries = value;
                        break;
                    case "TimeoutSeconds":
                        timeoutSeconds = value;
                        break;
                }
            }

            return (retries, timeoutSeconds);
        }

        private static string EscapeIdentifier(string name)
            => SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None ? "@" + name : name;

        private static bool ContainsError(ITypeSymbol type) => type switch
        {
            { TypeKind: TypeKind.Error } => true,
            IArrayTypeSymbol array => ContainsError(array.ElementType),
            INamedTypeSymbol named => named.TypeArguments.Any(ContainsError),
            _ => false,
        };
    }
}
