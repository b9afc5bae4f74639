using Microsoft.CodeAnalysis;

namespace Coiled.Remote.Generators;

/// <summary>One reason a [Remote] method cannot get a stub: the analyzer reports it, the generator skips the method.</summary>
internal readonly struct RemoteMethodProblem(DiagnosticDescriptor descriptor, Location? location, params object[] messageArgs)
{
    public DiagnosticDescriptor Descriptor { get; } = descriptor;

    public Location? Location { get; } = location;

    public object[] MessageArgs { get; } = messageArgs;

    public Diagnostic ToDiagnostic() => Diagnostic.Create(Descriptor, Location, MessageArgs);
}
