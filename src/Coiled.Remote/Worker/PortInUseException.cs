using System.Net;

namespace Coiled.Remote.Worker;

/// <summary>The worker could not start because another process holds its port.</summary>
/// <param name="endpoint">The address and port the worker was to listen on.</param>
/// <param name="inner">The error from binding the port.</param>
internal sealed class PortInUseException(IPEndPoint endpoint, Exception inner) : IOException($"{endpoint} is in use", inner)
{
    /// <summary>The address and port the worker was to listen on.</summary>
    public IPEndPoint Endpoint { get; } = endpoint;
}
