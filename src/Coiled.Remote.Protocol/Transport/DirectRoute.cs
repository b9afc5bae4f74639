namespace Coiled.Remote.Transport;

/// <summary>
/// The opening of a direct route's connection (see <c>OpenRoute</c> in worker.proto): the client connects to the
/// worker's own port and sends <see cref="Opening"/> and the ticket's route id, in clear, which the worker's listener
/// reads to find the executor to hand the connection to; then TLS, when the worker uses it, and inside it the ticket's
/// secret, which only the executor checks.
/// </summary>
internal static class DirectRoute
{
    /// <summary>The first byte: neither the bulk-data preamble's NUL, nor TLS's 0x16, nor HTTP/2's 'P'.</summary>
    public const byte Opening = 0x02;

    /// <summary>Length of a route id.</summary>
    public const int RouteIdBytes = 16;

    /// <summary>Length of the opening the worker's listener reads: <see cref="Opening"/> and the route id.</summary>
    public const int OpeningBytes = 1 + RouteIdBytes;

    /// <summary>Length of a ticket's secret.</summary>
    public const int SecretBytes = 32;

    /// <summary>A ticket whose connection has not arrived within this time is void, and its executor no longer held for it.</summary>
    public static readonly TimeSpan TicketLifetime = TimeSpan.FromSeconds(30);

    /// <summary>The whole opening for <paramref name="routeId"/>.</summary>
    public static byte[] OpeningFor(ReadOnlySpan<byte> routeId)
    {
        if (routeId.Length != RouteIdBytes)
        {
            throw new InvalidDataException($"A route id has {RouteIdBytes} bytes; the worker sent {routeId.Length}.");
        }

        return [Opening, .. routeId];
    }
}
