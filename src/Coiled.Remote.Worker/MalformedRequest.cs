using System.Globalization;
using System.Text;
using Google.Protobuf;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Coiled.Remote.Worker;

/// <summary>
/// A call whose request bytes are not a valid protobuf message is the caller's mistake, so it is refused with
/// <see cref="StatusCode.InvalidArgument"/>. gRPC parses unary and server-streaming requests before the service method
/// runs and reports a parse failure as <see cref="StatusCode.Unknown"/>, the status of a worker that failed.
/// </summary>
internal static class MalformedRequest
{
    private const string StatusHeader = "grpc-status";
    private const string MessageHeader = "grpc-message";

    /// <summary>After the call ended and before its status is sent: turns a parse failure's status into a refusal.</summary>
    public static void Refuse(HttpContext context)
    {
        var call = context.Features.Get<IServerCallContextFeature>()?.ServerCallContext;
        if (call is not { Status.StatusCode: StatusCode.Unknown } || ParseFailure(call.Status.DebugException) is not { } parse)
        {
            return;
        }

        var message = Encode(
            $"{call.Method} received a request that is not a valid protobuf message ({parse.Message}). " +
            "The caller and the worker must speak the same protocol: use the same Coiled.Remote version on both.");
        var status = ((int)StatusCode.InvalidArgument).ToString(CultureInfo.InvariantCulture);

        // A call that sent nothing answers with its status in the headers; one that sent messages, in the trailers.
        var fields = context.Response.HasStarted ? context.Features.Get<IHttpResponseTrailersFeature>()?.Trailers : context.Response.Headers;
        if (fields is null || fields.IsReadOnly)
        {
            return;
        }

        fields[StatusHeader] = status;
        fields[MessageHeader] = message;
    }

    private static InvalidProtocolBufferException? ParseFailure(Exception? exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is InvalidProtocolBufferException parse)
            {
                return parse;
            }
        }

        return null;
    }

    /// <summary>The percent-encoding gRPC requires of <c>grpc-message</c>: printable ASCII stays, everything else is %XX of its UTF-8 bytes.</summary>
    private static string Encode(string message)
    {
        var text = new StringBuilder(message.Length);
        Span<byte> bytes = stackalloc byte[4];
        foreach (var rune in message.EnumerateRunes())
        {
            if (rune.Value is >= 0x20 and <= 0x7E && rune.Value != '%')
            {
                text.Append((char)rune.Value);
                continue;
            }

            var count = rune.EncodeToUtf8(bytes);
            for (var i = 0; i < count; i++)
            {
                text.Append('%').Append(bytes[i].ToString("X2", CultureInfo.InvariantCulture));
            }
        }

        return text.ToString();
    }
}
