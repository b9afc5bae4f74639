using System.Buffers.Binary;
using System.Net.Sockets;

namespace Coiled.Remote.Transport;

/// <summary>
/// The bulk-data connection's framing, beside the gRPC control stream: large task arguments travel as raw bytes
/// so that neither side spends CPU on HTTP/2 framing and protobuf for them.
/// <code>
/// hello:  u16 token length, token bytes (UTF-8)             client → worker, once
/// blob:   u64 id, u32 length, length bytes                  client → worker, repeated
/// </code>
/// All integers are little-endian. A wrong token closes the connection.
/// </summary>
internal static class BulkFrame
{
    public const int BlobHeaderBytes = 12;

    /// <summary>Arguments at least this large go over the bulk connection when the worker offers one.</summary>
    public const int ThresholdBytes = 64 * 1024;

    /// <summary>The endpoint of an abstract Unix socket (Linux): its name after a NUL byte, which keeps it out of the file system.</summary>
    public static UnixDomainSocketEndPoint LocalEndPoint(string name) => new("\0" + name);

    public static void WriteBlobHeader(Span<byte> destination, ulong id, int length)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(destination, id);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], (uint)length);
    }

    public static (ulong Id, uint Length) ReadBlobHeader(ReadOnlySpan<byte> source)
        => (BinaryPrimitives.ReadUInt64LittleEndian(source), BinaryPrimitives.ReadUInt32LittleEndian(source[8..]));
}
