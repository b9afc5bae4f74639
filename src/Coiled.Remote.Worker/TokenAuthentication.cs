using System.Security.Cryptography;
using System.Text;
using Coiled.Remote.Transport;
using Grpc.Core;
using Microsoft.AspNetCore.Http;

namespace Coiled.Remote.Worker;

/// <summary>
/// Rejects every request that does not carry the cluster's bearer token, before gRPC reads a single byte of its
/// body, with a trailers-only <see cref="StatusCode.Unauthenticated"/> response. The comparison takes the same time
/// wherever the first differing byte is.
/// </summary>
internal sealed class TokenAuthentication(string token, RefusalLog refusals)
{
    private readonly byte[] _expected = Encoding.UTF8.GetBytes(WireLimits.BearerPrefix + token);

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var header = context.Request.Headers[WireLimits.AuthorizationHeader].ToString();
        if (header.Length == 0)
        {
            refusals.Refused(context.Connection.RemoteIpAddress, "call(s)", "no token");
            Reject(context, "This worker requires the cluster token: send 'authorization: Bearer <token>' with every call.");
            return;
        }

        if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header), _expected))
        {
            refusals.Refused(context.Connection.RemoteIpAddress, "call(s)", "wrong token");
            Reject(context, "The cluster token does not match this worker's token. Connect with the token the worker was started with.");
            return;
        }

        await next(context).ConfigureAwait(false);

        // Every authenticated call ends here before its status is sent, which is where a request that could not be
        // parsed is told apart from a worker that failed.
        MalformedRequest.Refuse(context);
    }

    private static void Reject(HttpContext context, string message)
    {
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/grpc";
        context.Response.Headers["grpc-status"] = ((int)StatusCode.Unauthenticated).ToString(System.Globalization.CultureInfo.InvariantCulture);
        context.Response.Headers["grpc-message"] = message;
    }
}
