using Coiled.Remote.Generators.Helpers;

namespace Coiled.Remote.Generators.Model;

/// <summary>The one registry emitted for an assembly.</summary>
/// <param name="ClassName">The registry class name: the sanitized assembly name plus <c>_RemoteStubs</c>.</param>
/// <param name="Methods">The stubs to emit, sorted by id so that numbering is deterministic.</param>
internal sealed record RemoteStubRegistrySpec(string ClassName, EquatableArray<RemoteMethodSpec> Methods);
