using System.Net.Sockets;

namespace Coiled.Remote.Tests.Support;

/// <summary>How tests see a worker close a raw connection it refused.</summary>
internal static class PeerClose
{
    /// <summary>Reads one byte (30 s at most); 0 at the end of the stream, and also when the peer reset it (closing with unread data does).</summary>
    public static async Task<int> ReadOrResetAsync(Stream stream)
    {
        using var safety = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            return await stream.ReadAsync(new byte[1], safety.Token);
        }
        catch (IOException ex) when (ex.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset })
        {
            return 0;
        }
    }
}
