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
    /// <summary>
    /// Workers the cluster needs before it runs (<see cref="ClusterOptions.MinimumWorkers"/>), from 1 to
    /// <see cref="Count"/>; default <see cref="Count"/>. A backend that starts workers one by one
    /// (<see cref="IClusterBackend.StartWorkersStreamingAsync"/>) gives up at once when fewer than this can still come.
    /// </summary>
    public int MinimumCount
    {
        get => field is > 0 ? Math.Min(field, Count) : Count;
        init => field = value;
    }

    /// <summary>
    /// How long the workers outlive their cluster without a client: a named cluster's <see cref="ClusterOptions.KeepAlive"/>.
    /// Zero (the default): they stop with the cluster, or with this process.
    /// </summary>
    internal TimeSpan KeepAlive { get; init; }

    /// <summary>The named cluster's <see cref="ClusterOptions.Name"/>; null for a cluster without a name.</summary>
    internal string? ClusterName { get; init; }

    // The record is logged and shown by debuggers: it says that the token is set, never what it is.
    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append(CultureInfo.InvariantCulture,
            $"Count = {Count}, MinimumCount = {MinimumCount}, Token = {Redacted.Text}, IdleTimeout = {IdleTimeout}, NoClientTimeout = {NoClientTimeout}, KeepAlive = {KeepAlive}, ClusterName = {ClusterName}, LoggerFactory = {LoggerFactory}");
        return true;
    }
}
