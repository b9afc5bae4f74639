using Coiled.Remote.Generators.Helpers;

namespace Coiled.Remote.Generators.Model;

/// <summary>Everything the emitter needs to write the stub of one valid [Remote] method; no symbols, only text.</summary>
/// <param name="Id">Stable id, <c>Namespace.Type.Method(ParameterTypes)</c>, a trailing token included (see <see cref="RemoteMethodId"/>).</param>
/// <param name="ContainingType">The declaring type, fully qualified with <c>global::</c>.</param>
/// <param name="Name">The method name, escaped when it is a keyword.</param>
/// <param name="ArgumentTypes">The parameter types the caller passes, fully qualified (from an extern alias where their assembly has one), trailing token excluded.</param>
/// <param name="AcceptsCancellation">Whether the last parameter is a <c>CancellationToken</c> the stub supplies.</param>
/// <param name="ReturnType">The exact return type, fully qualified (<c>void</c> for none).</param>
/// <param name="ReturnKind">How the invoker hands back the result.</param>
/// <param name="Retries">The attribute's <c>Retries</c>.</param>
/// <param name="TimeoutSeconds">The attribute's <c>TimeoutSeconds</c>.</param>
/// <param name="ExternAliases">The extern aliases the type names use (<c>Y</c> of <c>Y::Lib.Point</c>), which the file declares.</param>
/// <param name="SuppressedWarnings">Ids of what using the method or its types reports (obsolete, experimental), which the file suppresses.</param>
/// <param name="Obsolete">Whether the method or its type is obsolete: the stub is marked obsolete too (see <see cref="Helpers.UsageWarnings"/>).</param>
internal sealed record RemoteMethodSpec(
    string Id,
    string ContainingType,
    string Name,
    EquatableArray<string> ArgumentTypes,
    bool AcceptsCancellation,
    string ReturnType,
    RemoteReturnKind ReturnKind,
    int Retries,
    int TimeoutSeconds,
    EquatableArray<string> ExternAliases,
    EquatableArray<string> SuppressedWarnings,
    bool Obsolete);
