using Coiled.Remote.Transport;
using Coiled.Remote.Transport.Protocol;

namespace Coiled.Remote.Scheduling;

/// <summary>
/// A message for a worker's task stream, with the pooled array its arguments point into (if any), which the sender
/// holds until the message is written and then releases, and the messages that must go before it (<paramref name="Before"/>:
/// shared values the worker drops and those it is sent, with their bytes' holds, which the batch's arguments refer to).
/// </summary>
internal readonly record struct OutgoingRequest(RunRequest Request, RentedBuffer? Lease = null, OutgoingRequest[]? Before = null);
