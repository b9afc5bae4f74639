using Coiled.Remote.Sharing;
using Coiled.Remote.Stubs;
using Coiled.Remote.Transport;
using MessagePack;

namespace Coiled.Remote.Scheduling;

/// <summary>Serializes items into <see cref="ArgumentChunk"/>s of bounded size.</summary>
/// <param name="write">
/// Writes one item's arguments as the call's inferred types; the builder writes them as the method declares them
/// (see <see cref="DeclaredArguments{TArgs}"/>).
/// </param>
/// <param name="stub">The method, for errors.</param>
/// <param name="itemized">Whether errors name the item (maps and streams) or not (a single call).</param>
/// <param name="pooled">
/// Whether large chunks may keep a pooled array (<see cref="ArgumentChunk.Lease"/>), which their job returns when it
/// ends. Streams pass false: they run for as long as their source lasts, so their chunks are left to the garbage collector.
/// </param>
/// <param name="sharing">
/// The call's sharing of repeated large arguments, which the builder then owns; null to write every argument inline.
/// </param>
/// <param name="sharedValueBytes">Most bytes of shared values one item may refer to: what a worker holds of them.</param>
internal sealed class ArgumentChunkBuilder<TArgs>(
    ArgumentArrayWriter<TArgs> write, RemoteStub stub, bool itemized, bool pooled, ArgumentSharing? sharing = null, long sharedValueBytes = WireLimits.MaxSharedValueBytes)
    : IDisposable
{
    private const int ChunkTargetBytes = 1024 * 1024;
    private const int MaxItemsPerChunk = 16384;

    /// <summary>Chunks at least this large keep the builder's buffer instead of a copy of it.</summary>
    private const int HandOverBytes = 256 * 1024;

    private readonly ArgumentArrayWriter<TArgs> _write = DeclaredArguments<TArgs>.Writer(stub, write);

    /// <summary>Null unless the call shares and an argument can be shared: items are then written as without sharing.</summary>
    private readonly SharingArgumentWriter<TArgs>? _sharingWriter = sharing is null ? null : SharingArgumentWriter<TArgs>.For(stub);
    private ChunkShares? _shares;
    private GrowableBuffer _buffer = new(4096);
    private readonly List<int> _ends = [];
    private int _firstIndex;
    private bool _disposed;

    public int Count => _ends.Count;

    public bool IsFull => _ends.Count >= MaxItemsPerChunk || _buffer.WrittenCount >= ChunkTargetBytes;

    /// <summary>Serializes one item and returns its size in bytes; a type that cannot be serialized is reported as the caller's mistake.</summary>
    public int Add(TArgs item, long index)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var before = _buffer.WrittenCount;
        try
        {
            var writer = new MessagePackWriter(_buffer);
            if (_sharingWriter is null)
            {
                _write(ref writer, item);
            }
            else
            {
                sharing!.BeginItem(_buffer);
                _sharingWriter.Write(ref writer, item, sharing);
            }

            writer.Flush();
        }
        catch (Exception ex)
        {
            throw ArgumentError.From(stub, item, itemized ? index : null, ex);
        }

        var size = _buffer.WrittenCount - before;
        if (size > WireLimits.MaxTaskArgumentBytes)
        {
            throw new ArgumentException(
                $"The arguments of item {index} for {stub.DisplayName} are {size:N0} bytes; one task's arguments are limited to {WireLimits.MaxTaskArgumentBytes:N0} bytes. " +
                "Split the data into several items, or put it in storage the workers can read and pass its location.");
        }

        if (_sharingWriter is not null)
        {
            AddShares(index);
        }

        _ends.Add(_buffer.WrittenCount);
        return size;
    }

    /// <summary>
    /// Gives the buffer items were written into back to the pool (the chunks have their own), and lets go of what the
    /// call's sharing holds; items added since the last <see cref="Seal"/> are dropped.
    /// </summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _ends.Clear();
        _buffer.Release();
        sharing?.Dispose();
    }

    /// <summary>Records the shared values the item just written refers to, which must fit in a worker together.</summary>
    private void AddShares(long index)
    {
        var values = sharing!.ItemShares;
        if (values.Count == 0)
        {
            _shares?.Add(values, 0);
            return;
        }

        var together = WorkerSharedValues.SizeOf(values);
        if (together > sharedValueBytes)
        {
            var which = itemized ? $"Item {index} of {stub.DisplayName} passes" : $"{stub.DisplayName} is passed";
            throw new ArgumentException(
                $"{which} {values.Count} repeated argument value(s) of {together:N0} bytes together, which are sent to each worker once and kept there; " +
                $"a worker keeps at most {sharedValueBytes:N0} bytes of them. Pass smaller values, or put the data in storage the workers can read and pass its location.");
        }

        (_shares ??= new ChunkShares(_ends.Count)).Add(values, sharing.ItemReplacedBytes);
    }

    /// <summary>Seals the items added so far into a chunk and starts a new one; null when there are none.</summary>
    public ArgumentChunk? Seal()
    {
        if (_ends.Count == 0 || _disposed)
        {
            return null;
        }

        ReadOnlyMemory<byte> data;
        RentedBuffer? lease = null;
        if (_buffer.WrittenCount >= HandOverBytes)
        {
            // Large arguments are not copied again: the chunk keeps the buffer and the builder starts a new one.
            var written = _buffer.WrittenCount;
            if (pooled)
            {
                lease = _buffer.Detach();
                data = lease.Array.AsMemory(0, written);
            }
            else
            {
                data = _buffer.WrittenMemory;
                _buffer = new GrowableBuffer(4096);
            }
        }
        else
        {
            data = _buffer.WrittenSpan.ToArray();
            _buffer.ResetWrittenCount();
        }

        sharing?.Sealed(data, lease);
        var chunk = new ArgumentChunk(_firstIndex, data, [.. _ends], _ends.Count, lease, _shares);
        _firstIndex += _ends.Count;
        _ends.Clear();
        _shares = null;
        return chunk;
    }
}
