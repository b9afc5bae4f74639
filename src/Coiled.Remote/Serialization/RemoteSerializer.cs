using MessagePack;

namespace Coiled.Remote.Serialization;

/// <summary>
/// The MessagePack settings used for every argument and result, on the client and on the worker alike:
/// contractless, so that records and plain classes travel without serializer attributes (see
/// <see cref="RemoteResolver"/>), and hardened for untrusted input.
/// </summary>
internal static class RemoteSerializer
{
    public static readonly MessagePackSerializerOptions Options = MessagePackSerializerOptions.Standard
        .WithResolver(RemoteResolver.Instance)
        .WithSecurity(MessagePackSecurity.UntrustedData);
}
