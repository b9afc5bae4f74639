namespace Coiled.Remote.Transport;

/// <summary>
/// Writing into a <see cref="GrowableBuffer"/> would have taken it past its limit: the writer stops there, so that data
/// too large to send is never serialized (nor its memory taken) in full only to be refused afterwards.
/// </summary>
/// <param name="limit">The most bytes the buffer takes.</param>
internal sealed class BufferLimitException(int limit)
    : Exception($"The data written passed the limit of {limit:N0} bytes; writing stopped there.")
{
    /// <summary>The most bytes the buffer takes.</summary>
    public int Limit { get; } = limit;
}
