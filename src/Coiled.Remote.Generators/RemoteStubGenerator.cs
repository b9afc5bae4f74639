using System;
using System.Linq;
using Coiled.Remote.Generators.Helpers;
using Coiled.Remote.Generators.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Coiled.Remote.Generators;

/// <summary>
/// Emits one <c>RemoteStubRegistry</c> per assembly with a stub for every valid [Remote] method: a stable id,
/// a delegate to the method, and an invoker that reads MessagePack arguments, calls the method directly and writes
/// its result. Invalid methods get no stub; the analyzers in <c>Analyzers/</c> report why.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed partial class RemoteStubGenerator : IIncrementalGenerator
{
    public const string HintName = "CoiledRemoteStubs.g.cs";

    /// <inheritdoc/>
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var methods = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                RemoteMethodRules.RemoteAttributeMetadataName,
                predicate: static (node, _) => node is MethodDeclarationSyntax,
                transform: static (context, cancellationToken) => Parser.Parse(context, cancellationToken))
            .Where(static spec => spec is not null)
            .Select(static (spec, _) => spec!)
            .WithTrackingName(TrackingNames.RemoteMethods);

        var registryClassName = context.CompilationProvider
            .Select(static (compilation, _) => Parser.RegistryClassName(compilation.AssemblyName))
            .WithTrackingName(TrackingNames.RegistryClassName);

        var registry = methods
            .Collect()
            .Combine(registryClassName)
            .Select(static (input, _) => new RemoteStubRegistrySpec(
                input.Right,
                // Ids are unique: the parser skips every method whose id another valid [Remote] method shares (CR0010).
                input.Left
                    .OrderBy(static spec => spec.Id, StringComparer.Ordinal)
                    .ToEquatableArray()))
            .WithTrackingName(TrackingNames.Registry);

        context.RegisterSourceOutput(registry, static (context, spec) =>
        {
            if (spec.Methods.Count > 0)
            {
                context.AddSource(HintName, Emitter.Emit(spec));
            }
        });
    }

    /// <summary>Names of the tracked pipeline steps, for the incremental caching tests.</summary>
    internal static class TrackingNames
    {
        public const string RemoteMethods = nameof(RemoteMethods);
        public const string RegistryClassName = nameof(RegistryClassName);
        public const string Registry = nameof(Registry);
    }
}
