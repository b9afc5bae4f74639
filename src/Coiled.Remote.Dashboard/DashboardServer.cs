using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Coiled.Remote.Dashboard;

/// <summary>
/// Kestrel serving the dashboard: bare, without the generic host, so that it starts in milliseconds and never takes over
/// the application's signals (SIGTERM, Ctrl+C) or configuration. <see cref="DashboardApplication"/> answers the requests.
/// </summary>
internal sealed class DashboardServer : IDashboardServer
{
    private readonly KestrelServer _kestrel;
    private int _disposed;

    private DashboardServer(KestrelServer kestrel, Uri uri, bool requiresToken)
    {
        _kestrel = kestrel;
        Uri = uri;
        RequiresToken = requiresToken;
    }

    public Uri Uri { get; }

    public bool RequiresToken { get; }

    /// <exception cref="IOException">The address could not be bound.</exception>
    public static async Task<DashboardServer> StartAsync(DashboardBinding binding, IDashboardSource source, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        var options = new KestrelServerOptions { AddServerHeader = false };
        options.Limits.MaxRequestBodySize = 0;
        options.Limits.MaxRequestHeadersTotalSize = 16 * 1024;
        options.Limits.MaxConcurrentConnections = 64;
        ListenOptions? listener = null;
        options.Listen(binding.Address, listen =>
        {
            listener = listen;
            // A page and its polls over plain HTTP: HTTP/1.1 (HTTP/2 without TLS is a browser's no, and Kestrel warns of it).
            listen.Protocols = HttpProtocols.Http1;
        });
        var transport = new SocketTransportFactory(Options.Create(new SocketTransportOptions()), loggerFactory);
        var kestrel = new KestrelServer(Options.Create(options), transport, loggerFactory);
        try
        {
            var application = new DashboardApplication(source, binding.Token, loggerFactory.CreateLogger<DashboardApplication>());
            await kestrel.StartAsync(application, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            kestrel.Dispose();
            throw;
        }

        // Kestrel puts the port it bound in the listener's endpoint, which matters for port 0.
        var port = listener?.IPEndPoint?.Port ?? binding.Address.Port;
        return new DashboardServer(kestrel, new UriBuilder("http", HostOf(binding.Address.Address), port, "/").Uri, binding.Token is not null);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        await _kestrel.StopAsync(grace.Token).ConfigureAwait(false);
        _kestrel.Dispose();
    }

    /// <summary>How a browser reaches the address: this machine's name for a wildcard one.</summary>
    private static string HostOf(IPAddress address)
    {
        if (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
        {
            return Dns.GetHostName();
        }

        return address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();
    }
}
