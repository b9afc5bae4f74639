namespace Coiled.Remote.Transport;

/// <summary>
/// A payload as it arrived on a bulk-data connection (a task batch's arguments on a worker, a result batch's results on
/// the client): the first <paramref name="Length"/> bytes of a pooled array.
/// </summary>
/// <param name="Buffer">The pooled array the payload was read into; its holder releases it.</param>
/// <param name="Length">How many of the array's bytes are the payload.</param>
internal readonly record struct BulkPayload(RentedBuffer Buffer, int Length)
{
    /// <summary>The payload's bytes.</summary>
    public ReadOnlyMemory<byte> Data => Buffer.Array.AsMemory(0, Length);
}
