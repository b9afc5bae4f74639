using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Worker;

/// <summary>The worker's one way to accept the next connection on a listening socket.</summary>
internal static class SocketAccepting
{
    /// <summary>How long to wait after a failed accept (out of file descriptors, say) before accepting again.</summary>
    private static readonly TimeSpan Backoff = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// The next connection, or null once <paramref name="stop"/> is cancelled or the listener is disposed. A failed
    /// accept waits a moment and tries again rather than spin, so that the worker's own threads and files can still be made.
    /// </summary>
    public static async Task<Socket?> NextAsync(Socket listener, ILogger logger, string what, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                return await listener.AcceptAsync(stop).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException || stop.IsCancellationRequested)
            {
                return null;
            }
            catch (SocketException ex)
            {
                logger.AcceptFailed(what, ex.Message);
                try
                {
                    await Task.Delay(Backoff, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return null;
                }
            }
        }

        return null;
    }
}
