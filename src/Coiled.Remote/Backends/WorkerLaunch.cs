using System.Globalization;
using System.Text;
using Coiled.Remote.Security;
using Microsoft.Extensions.Logging;

namespace Coiled.Remote;

/// <summary>What a cluster asks of its backend when it starts workers.</summary>
/// <param name="Count">Workers to start.</param>
/// <param name="Token">The bearer token the workers must require on every call; <see cref="object.ToString"/> prints <c>***</c> in its place.</param>
/// <param name="IdleTimeout">Workers stop themselves after this long without work.</param>
/// <param name="NoClientTimeout">Workers stop themselves after this long without a connected client.</param>
/// <param name="LoggerFactory">Where the backend logs.</param>
public sealed record WorkerLaunch(int Count, string Token, TimeSpan IdleTimeout, TimeSpan NoClientTimeout, ILoggerFactory LoggerFactory)
{
    // The record is logged and shown by debuggers: it says that the token is set, never what it is.
    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append(CultureInfo.InvariantCulture,
            $"Count = {Count}, Token = {Redacted.Text}, IdleTimeout = {IdleTimeout}, NoClientTimeout = {NoClientTimeout}, LoggerFactory = {LoggerFactory}");
        return true;
    }
}
