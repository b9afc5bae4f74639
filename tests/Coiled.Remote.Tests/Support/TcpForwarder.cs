using System.Net;
using System.Net.Sockets;

namespace Coiled.Remote.Tests.Support;

/// <summary>
/// A port mapping on loopback, as a tunnel, NAT or container port would make: every connection to <see cref="Port"/>
/// is copied both ways to the target port. Disposing closes the listener and every forwarded connection.
/// </summary>
internal sealed class TcpForwarder : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly List<Socket> _sockets = [];
    private readonly CancellationTokenSource _stop = new();

    public TcpForwarder(int targetPort)
    {
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _ = ForwardAsync(targetPort);
    }

    public int Port { get; }

    /// <summary>Connections forwarded so far.</summary>
    public int Connections { get; private set; }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        lock (_sockets)
        {
            _sockets.ForEach(s => s.Dispose());
        }
    }

    private async Task ForwardAsync(int targetPort)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }

            var target = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await target.ConnectAsync(IPAddress.Loopback, targetPort);
            lock (_sockets)
            {
                _sockets.Add(client);
                _sockets.Add(target);
                Connections++;
            }

            _ = PumpAsync(client, target);
            _ = PumpAsync(target, client);
        }
    }

    private static async Task PumpAsync(Socket from, Socket to)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            int read;
            while ((read = await from.ReceiveAsync(buffer)) > 0)
            {
                await to.SendAsync(buffer.AsMemory(0, read));
            }

            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // One side closed; the other follows.
        }
    }
}
