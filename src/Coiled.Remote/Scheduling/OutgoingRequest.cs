using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// A message for a worker's task stream, with the pooled array its arguments point into (if any), which the sender
/// holds until the message is written and then releases.
/// </summary>
internal readonly record struct OutgoingRequest(RunRequest Request, RentedBuffer? Lease = null);
