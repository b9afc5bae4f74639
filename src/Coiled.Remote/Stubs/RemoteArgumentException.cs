namespace Coiled.Remote.Stubs;

/// <summary>A task's arguments could not be read into the method's parameter types.</summary>
internal sealed class RemoteArgumentException(string message, Exception? inner = null) : Exception(message, inner);
