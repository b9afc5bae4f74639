using System.Collections.Concurrent;
using System.Net;
using Coiled.Remote.Synchronization;
using Coiled.Remote.Transport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Tests.Support;

/// <summary>
/// A cluster's staging storage on a local HTTP server on loopback, standing for an EC2 cluster's S3 bucket: what is
/// staged is kept in memory under its SHA-256, and workers GET it from an address as they would a presigned one. Counts
/// what was staged and what was fetched. <see cref="Fail"/> makes staging fail, as a bucket that refuses would.
/// </summary>
internal sealed class LoopbackBlobStaging : IBlobStaging, IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, byte[]> _content = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _staged = new();
    private readonly ConcurrentQueue<string> _fetched = new();
    private readonly WebApplication _server;
    private Uri _url = null!;

    private LoopbackBlobStaging(WebApplication server) => _server = server;

    /// <summary>When set, staging throws it, uploading nothing.</summary>
    public Exception? Fail { get; set; }

    /// <summary>The SHA-256 (lowercase hex) of each upload, in order: a content staged twice shows twice.</summary>
    public IReadOnlyCollection<string> Staged => _staged;

    /// <summary>The SHA-256 of each GET a worker made, in order.</summary>
    public IReadOnlyCollection<string> Fetched => _fetched;

    public static async Task<LoopbackBlobStaging> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var server = builder.Build();
        var staging = new LoopbackBlobStaging(server);
        server.MapGet("/sha256/{hash}", staging.ServeAsync);
        await server.StartAsync();
        staging._url = new Uri(server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/");
        return staging;
    }

    public Task<Uri> StageAsync(string sha256, string path, long size, CancellationToken cancellationToken)
        => StageAsync(sha256, File.ReadAllBytes(path));

    public Task<Uri> StageAsync(string sha256, RentedBuffer content, int size, CancellationToken cancellationToken)
        => StageAsync(sha256, content.Array.AsSpan(0, size).ToArray());

    public async ValueTask DisposeAsync() => await _server.DisposeAsync();

    private Task<Uri> StageAsync(string sha256, byte[] content)
    {
        if (Fail is { } error)
        {
            return Task.FromException<Uri>(error);
        }

        if (_content.TryAdd(sha256, content))
        {
            _staged.Enqueue(sha256);
        }

        return Task.FromResult(new Uri(_url, $"sha256/{sha256}?signature=loopback"));
    }

    private async Task ServeAsync(HttpContext context)
    {
        var hash = (string)context.Request.RouteValues["hash"]!;
        if (!_content.TryGetValue(hash, out var content))
        {
            context.Response.StatusCode = 404;
            return;
        }

        _fetched.Enqueue(hash);
        context.Response.ContentLength = content.Length;
        await context.Response.Body.WriteAsync(content);
    }
}
