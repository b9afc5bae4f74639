using Microsoft.Extensions.Logging;

namespace Coiled.Remote;

/// <summary>What a cluster asks of its backend when it starts workers.</summary>
/// <param name="Count">Workers to start.</param>
/// <param name="Token">The bearer token the workers must require on every call.</param>
/// <param name="IdleTimeout">Workers stop themselves after this long without work.</param>
/// <param name="NoClientTimeout">Workers stop themselves after this long without a connected client.</param>
/// <param name="LoggerFactory">Where the backend logs.</param>
public sealed record WorkerLaunch(int Count, string Token, TimeSpan IdleTimeout, TimeSpan NoClientTimeout, ILoggerFactory LoggerFactory);
