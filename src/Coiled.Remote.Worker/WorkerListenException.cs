using System.Net;

namespace Coiled.Remote.Worker;

/// <summary>The worker could not listen on its address and port: another process holds the port, or the address is not this machine's.</summary>
/// <param name="endpoint">The address and port the worker was to listen on.</param>
/// <param name="message">What went wrong, naming the address and port.</param>
/// <param name="inner">The error from binding the port.</param>
internal sealed class WorkerListenException(IPEndPoint endpoint, string message, Exception inner) : IOException(message, inner)
{
    /// <summary>The address and port the worker was to listen on.</summary>
    public IPEndPoint Endpoint { get; } = endpoint;
}
