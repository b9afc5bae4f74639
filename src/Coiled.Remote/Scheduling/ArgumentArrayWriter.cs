using MessagePack;

namespace Coiled.Remote.Scheduling;

/// <summary>Writes one task's arguments as a MessagePack array.</summary>
internal delegate void ArgumentArrayWriter<in TArgs>(ref MessagePackWriter writer, TArgs arguments);
