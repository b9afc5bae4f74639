using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote.Dashboard;

/// <summary>
/// Answers the dashboard's requests: the page's three files, and <c>/api/snapshot?since=MS</c>, the JSON the page
/// polls once a second. Only GET; everything else is refused, and nothing is served to a viewer
/// <see cref="DashboardAccess"/> does not allow.
/// </summary>
internal sealed class DashboardApplication(IDashboardSource source, string? token, ILogger logger) : IHttpApplication<HttpContext>
{
    public const string SnapshotPath = "/api/snapshot";

    /// <summary>The page's policy: nothing from anywhere but this server, so the page works offline and loads nothing else.</summary>
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private readonly DashboardAccess _access = new(token);

    public HttpContext CreateContext(IFeatureCollection contextFeatures) => new DefaultHttpContext(contextFeatures);

    public void DisposeContext(HttpContext context, Exception? exception)
    {
    }

    public async Task ProcessRequestAsync(HttpContext context)
    {
        var request = context.Request;
        var response = context.Response;
        response.Headers.CacheControl = "no-store";
        response.Headers.XContentTypeOptions = "nosniff";
        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
        {
            response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            response.Headers.Allow = "GET, HEAD";
            return;
        }

        if (token is null && !DashboardAccess.IsLoopbackHost(request.Host))
        {
            // A loopback dashboard answers only to loopback names: another site's name pointed at 127.0.0.1 is refused.
            response.StatusCode = StatusCodes.Status421MisdirectedRequest;
            return;
        }

        if (!_access.Allows(context))
        {
            response.StatusCode = StatusCodes.Status401Unauthorized;
            response.Headers.WWWAuthenticate = "Bearer";
            response.ContentType = "text/plain; charset=utf-8";
            await response.WriteAsync(
                "This dashboard listens beyond this machine and asks for its token: open Cluster.DashboardUri, which carries it as ?token=.",
                context.RequestAborted).ConfigureAwait(false);
            return;
        }

        var path = request.Path.Value ?? "/";
        if (path == SnapshotPath)
        {
            await WriteSnapshotAsync(context).ConfigureAwait(false);
            return;
        }

        if (_access.TradeQueryForCookie(context))
        {
            return;
        }

        if (!DashboardAssets.Files.TryGetValue(path == "/index.html" ? "/" : path, out var file))
        {
            response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        response.ContentType = file.ContentType;
        response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
        response.ContentLength = file.Content.Length;
        await response.Body.WriteAsync(file.Content, context.RequestAborted).ConfigureAwait(false);
    }

    private async Task WriteSnapshotAsync(HttpContext context)
    {
        var since = double.TryParse(context.Request.Query["since"].ToString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var ms) && ms > 0 ? ms : 0;
        DashboardSnapshot snapshot;
        try
        {
            snapshot = source.Snapshot(since);
        }
        catch (Exception ex)
        {
            logger.SnapshotFailed(ex, ex.Message);
            context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            return;
        }

        context.Response.ContentType = "application/json; charset=utf-8";
        await JsonSerializer.SerializeAsync(context.Response.Body, snapshot, DashboardJson.Default.DashboardSnapshot, context.RequestAborted).ConfigureAwait(false);
    }
}
