namespace Coiled.Remote.Stubs;

/// <summary>A method's result could not be serialized.</summary>
internal sealed class RemoteResultException(string message, Exception? inner = null) : Exception(message, inner);
