namespace Coiled.Remote.Transport;

/// <summary>The version of protos/coiled/remote/v1 that this build speaks; both sides must agree.</summary>
internal static class ProtocolVersion
{
    public const uint Current = 9;
}
