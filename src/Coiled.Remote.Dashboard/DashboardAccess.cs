using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Coiled.Remote.Dashboard;

/// <summary>
/// Who may see a dashboard that listens beyond loopback: a viewer who shows the dashboard's token (made from the cluster
/// token, and of no use to reach the workers), as <c>?token=</c> on any page (traded for an HTTP-only cookie, so that the
/// token leaves the address bar), as that cookie, or as <c>Authorization: Bearer</c>. The cookie's name carries the
/// server's port: browsers send cookies to every port of a host, and two dashboards of one host must not take each
/// other's. On loopback any process of this machine may look, and only under a loopback host name (see
/// <see cref="IsLoopbackHost"/>).
/// </summary>
internal sealed class DashboardAccess(string? token)
{
    public const string CookiePrefix = "coiled-remote-dashboard-";

    /// <summary>The cookie of the server that took <paramref name="context"/>'s connection: named for its port.</summary>
    public static string CookieName(HttpContext context) => CookiePrefix + context.Connection.LocalPort.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Whether a request to a loopback dashboard names it by a loopback host: a page of another site whose name was
    /// pointed at 127.0.0.1 (DNS rebinding) sends its own name, and is refused.
    /// </summary>
    public static bool IsLoopbackHost(HostString host)
        => host.Host is "127.0.0.1" or "localhost" or "[::1]" or "::1";

    private readonly byte[]? _token = token is null ? null : Encoding.UTF8.GetBytes(token);

    /// <summary>Whether the request may see the dashboard.</summary>
    public bool Allows(HttpContext context)
    {
        if (_token is null)
        {
            return true;
        }

        var request = context.Request;
        if (request.Query.TryGetValue("token", out var query) && Matches(query.ToString()))
        {
            return true;
        }

        if (request.Cookies.TryGetValue(CookieName(context), out var cookie) && Matches(cookie))
        {
            return true;
        }

        var authorization = request.Headers.Authorization.ToString();
        return authorization.StartsWith("Bearer ", StringComparison.Ordinal) && Matches(authorization["Bearer ".Length..]);
    }

    /// <summary>
    /// A page opened with <c>?token=</c>: sets the cookie and sends the browser to the same page without the token;
    /// true when it did.
    /// </summary>
    public bool TradeQueryForCookie(HttpContext context)
    {
        if (_token is null || !context.Request.Query.TryGetValue("token", out var query) || !Matches(query.ToString()))
        {
            return false;
        }

        context.Response.Cookies.Append(CookieName(context), query.ToString(), new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Path = "/",
            IsEssential = true,
        });
        context.Response.StatusCode = StatusCodes.Status303SeeOther;
        context.Response.Headers.Location = context.Request.Path.Value ?? "/";
        return true;
    }

    private bool Matches(string? candidate)
        => candidate is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(candidate), _token);
}
