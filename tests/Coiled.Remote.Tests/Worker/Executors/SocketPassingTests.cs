using System.Net;
using System.Net.Sockets;
using Coiled.Remote.Tests.Support;
using Coiled.Remote.Worker.Executors;

namespace Coiled.Remote.Tests.Worker.Executors;

/// <summary>A connected socket handed over a Unix socket keeps its connection, and only the receiver's copy serves it.</summary>
public sealed class SocketPassingTests
{
    [LinuxFact]
    public async Task Receive_SocketSentBesideAMarker_IsTheSameBlockingConnectionAfterTheSenderClosedItsCopy()
    {
        using var temp = new TempDirectory();
        var path = Path.Combine(temp.Path, "link");
        using var unixListener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        unixListener.Bind(new UnixDomainSocketEndPoint(path));
        unixListener.Listen(1);
        using var sender = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        sender.Connect(new UnixDomainSocketEndPoint(path));
        using var receiver = unixListener.Accept();
        using var tcpListener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        tcpListener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        tcpListener.Listen(1);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(tcpListener.LocalEndPoint!);
        var accepted = tcpListener.Accept();

        // An asynchronous operation first, which leaves the connection non-blocking, as the worker's listener may.
        await accepted.SendAsync("a"u8.ToArray());
        SocketPassing.Send(sender, (byte)'D', accepted);
        accepted.Dispose();
        var (marker, passed) = SocketPassing.Receive(receiver);
        using var served = passed!;
        served.Send("bc"u8);
        var fromPassed = new byte[3];
        var read = 0;
        while (read < 3)
        {
            read += await client.ReceiveAsync(fromPassed.AsMemory(read));
        }

        await client.SendAsync("xyz"u8.ToArray());
        var toPassed = new byte[3];
        var got = 0;
        while (got < 3)
        {
            got += served.Receive(toPassed.AsSpan(got));
        }

        marker.Should().Be((byte)'D');
        served.Blocking.Should().BeTrue();
        fromPassed.Should().Equal("abc"u8.ToArray());
        toPassed.Should().Equal("xyz"u8.ToArray());
        served.RemoteEndPoint.Should().Be(client.LocalEndPoint);
    }

    [LinuxFact]
    public void Receive_MarkerWithoutASocket_GivesTheMarkerAloneAndNullAtTheEndOfTheLink()
    {
        using var temp = new TempDirectory();
        var path = Path.Combine(temp.Path, "link");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        var sender = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        sender.Connect(new UnixDomainSocketEndPoint(path));
        using var receiver = listener.Accept();

        sender.Send([(byte)'L']);
        sender.Dispose();
        var first = SocketPassing.Receive(receiver);
        var end = SocketPassing.Receive(receiver);

        first.Should().Be(((byte?)'L', (Socket?)null));
        end.Should().Be(((byte?)null, (Socket?)null));
    }
}
