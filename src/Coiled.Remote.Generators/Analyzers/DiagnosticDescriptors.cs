using Microsoft.CodeAnalysis;

namespace Coiled.Remote.Generators.Analyzers;

/// <summary>Every diagnostic Coiled.Remote reports. All are errors: the generator emits no stub for such a method.</summary>
internal static class DiagnosticDescriptors
{
    public const string Category = "Coiled.Remote";

    public static readonly DiagnosticDescriptor NotStatic = Create(
        "CR0001",
        "[Remote] method is not static",
        "[Remote] method '{0}' is not static; make it static, because a worker calls it without an instance");

    public static readonly DiagnosticDescriptor Generic = Create(
        "CR0002",
        "[Remote] method is generic",
        "[Remote] method '{0}' is generic or declared in a generic type; remove the type parameters, because a worker must know the exact types to read the arguments");

    public static readonly DiagnosticDescriptor ParameterByReference = Create(
        "CR0003",
        "[Remote] method parameter is passed by reference or is a ref struct",
        "Parameter '{1}' of [Remote] method '{0}' is {2}; a worker receives a copy of every argument, so take it by value as a serializable type (an array instead of a span)");

    public static readonly DiagnosticDescriptor ParameterNotSerializable = Create(
        "CR0004",
        "[Remote] method parameter cannot be serialized",
        "Parameter '{1}' of [Remote] method '{0}' cannot be sent to a worker: {2}");

    public static readonly DiagnosticDescriptor ReturnNotSerializable = Create(
        "CR0005",
        "[Remote] method return type cannot be serialized",
        "The return type of [Remote] method '{0}' cannot be sent back from a worker: {1}");

    public static readonly DiagnosticDescriptor TooManyParameters = Create(
        "CR0006",
        "[Remote] method has too many parameters",
        "[Remote] method '{0}' takes {1} parameters but at most 4 are supported (a trailing CancellationToken does not count); group them into a record and take that");

    public static readonly DiagnosticDescriptor LambdaPassed = Create(
        "CR0007",
        "Lambda, anonymous method or local function passed to a Cluster method",
        "{1} passed to {0} cannot run on a worker; move its body into a static [Remote] method of a type and pass that method by name, as in {0}(Jobs.Square, ...)");

    public static readonly DiagnosticDescriptor MethodNotRemote = Create(
        "CR0008",
        "Method without [Remote] passed to a Cluster method",
        "Method '{0}' passed to {1} is not marked [Remote]; add [Remote] to it so that a stub is generated for the workers");

    public static readonly DiagnosticDescriptor NotAccessible = Create(
        "CR0009",
        "[Remote] method is not accessible to the generated stub",
        "[Remote] method '{0}' cannot be called by the generated stub because {1}; make it internal or public");

    public static readonly DiagnosticDescriptor DuplicateId = Create(
        "CR0010",
        "[Remote] methods share a stub id",
        "[Remote] method '{0}' has the stub id '{1}', which another [Remote] overload has too, so a worker could not tell them apart; rename one of them");

    public static readonly DiagnosticDescriptor NotAMethodOfAType = Create(
        "CR0011",
        "[Remote] on a local function or lambda",
        "[Remote] on {0} has no effect, because a worker can only call methods of types; move the code to a static method of a type and mark that method [Remote]");

    public static readonly DiagnosticDescriptor InExtensionBlock = Create(
        "CR0012",
        "[Remote] method in an extension block",
        "[Remote] method '{0}' is declared in an extension block, which the generated stub cannot call; move it out of the block to a static method of a static class (such as '{1}') and keep [Remote] on it");

    public static readonly DiagnosticDescriptor DelegateValuePassed = Create(
        "CR0013",
        "Delegate value passed to a Cluster method",
        "The method passed to {0} comes from {1}, so the build cannot check that it is a static [Remote] method; pass the [Remote] method itself by name, as in {0}(Jobs.Square, ...){2}");

    public static readonly DiagnosticDescriptor BoundToReceiver = Create(
        "CR0014",
        "Extension method bound to a receiver passed to a Cluster method",
        "Extension method '{0}' is passed to {1} bound to the receiver '{2}', which does not travel to the worker; pass {0} itself and send the receiver as its first argument");

    public static readonly DiagnosticDescriptor InterfaceStaticMember = Create(
        "CR0015",
        "[Remote] method is a static abstract or virtual interface member",
        "[Remote] method '{0}' is a static {1} member of interface '{2}', which can be called only through a type parameter; put [Remote] on the static method of a class or struct that implements it instead");

    private static DiagnosticDescriptor Create(string id, string title, string messageFormat)
        => new(
            id,
            title,
            messageFormat,
            Category,
            DiagnosticSeverity.Error,
            isEnabledByDefault: true,
            helpLinkUri: $"https://github.com/coiled-remote/coiled-remote/blob/main/docs/diagnostics/{id}.md");
}
