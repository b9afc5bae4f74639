namespace Coiled.Remote.Worker;

/// <summary>A task named an assembly or [Remote] method that the worker's environment does not have.</summary>
internal sealed class RemoteMethodNotFoundException(string message, Exception? inner = null) : Exception(message, inner);
