using System.Net;
using Coiled.Remote.Security;

namespace Coiled.Remote.Dashboard;

/// <summary>Where a dashboard server listens, and the token a viewer must show when it is not loopback only.</summary>
/// <remarks>A class, not a record, so that nothing prints the token.</remarks>
internal sealed class DashboardBinding(IPEndPoint address, string? token)
{
    /// <summary>The address and port; port 0 takes a free one.</summary>
    public IPEndPoint Address { get; } = address;

    /// <summary>The cluster token a viewer must show; null when the address is loopback, where anyone on this machine may look.</summary>
    public string? Token { get; } = token;

    public override string ToString() => $"{Address} (token {(Token is null ? "not required" : Redacted.Text)})";
}
