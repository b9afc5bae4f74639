
namespace Coiled.Remote.Transport;

/// <summary>A task batch's arguments as they arrived on the bulk-data connection: the first <paramref name="Length"/> bytes of a pooled array.</summary>
internal readonly record struct BulkBlob(RentedBuffer Buffer, int Length)
{
    public ReadOnlyMemory<byte> Data => Buffer.Array.AsMemory(0, Length);
}
