using System.Net;
using System.Net.Sockets;
using Coiled.Remote.Transport;

namespace Coiled.Remote.Tests.Support;

/// <summary>A bulk-data connection opened by hand over TCP to a test worker, past its preamble and hello.</summary>
internal sealed class RawBulkConnection : IDisposable
{
    private readonly TcpClient _tcp;

    private RawBulkConnection(TcpClient tcp)
    {
        _tcp = tcp;
        Stream = tcp.GetStream();
    }

    public NetworkStream Stream { get; }

    /// <summary>Connects to the worker's port and sends the preamble and the hello with <paramref name="token"/> and <paramref name="channel"/>.</summary>
    public static Task<RawBulkConnection> OpenAsync(TestWorker worker, string token, ulong channel) => OpenAsync(worker.Host.Address.Port, token, channel);

    /// <summary>Connects to a worker's port on loopback and sends the preamble and the hello with <paramref name="token"/> and <paramref name="channel"/>.</summary>
    public static async Task<RawBulkConnection> OpenAsync(int port, string token, ulong channel)
    {
        var tcp = new TcpClient();
        try
        {
            await tcp.ConnectAsync(IPAddress.Loopback, port);
            var connection = new RawBulkConnection(tcp);
            await connection.Stream.WriteAsync((byte[])[.. BulkFrame.Preamble, .. BulkFrame.Hello(token, channel)]);
            return connection;
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    public void Dispose() => _tcp.Dispose();
}
