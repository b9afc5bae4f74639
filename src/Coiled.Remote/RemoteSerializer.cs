using MessagePack;
using MessagePack.Resolvers;

namespace Coiled.Remote;

/// <summary>
/// The MessagePack settings used for every argument and result, on the client and on the worker alike:
/// contractless, so that records and plain classes travel without serializer attributes, and hardened
/// for untrusted input.
/// </summary>
internal static class RemoteSerializer
{
    public static readonly MessagePackSerializerOptions Options = MessagePackSerializerOptions.Standard
        .WithResolver(ContractlessStandardResolver.Instance)
        .WithSecurity(MessagePackSecurity.UntrustedData);
}
