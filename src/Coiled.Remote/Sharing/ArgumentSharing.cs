using System.Buffers;
using System.Runtime.CompilerServices;
using Coiled.Remote.Serialization;
using Coiled.Remote.Transport;
using MessagePack;
using MessagePack.Formatters;

namespace Coiled.Remote.Sharing;

/// <summary>
/// Writes one call's arguments so that a large one repeated across items travels to each worker once. An argument
/// object whose serialized form is at least <see cref="WireLimits.MinSharedValueBytes"/> is written inline the first
/// time the call passes it, and remembered (weakly) with its bytes; when the same object (reference equality) comes
/// again, those bytes become a <see cref="SharedValue"/> and this and every later item carry a
/// <see cref="SharedReference"/> to it instead. An object an earlier call of the cluster passed is shared from its
/// first item on, serialized again, so that one changed between calls is sent again under its new hash. A
/// <see cref="Shared{T}"/> passed as an argument is always a reference to the value its cluster shares.
/// </summary>
/// <remarks>
/// Small arguments cost a flag test and a flush more; nothing is looked up or hashed for them, nor for any argument at
/// a position where no large one came yet. Only the bytes of the latest large value are kept for its second coming
/// (a stream of distinct large items holds no more than that); another one is serialized again when it repeats.
/// One call's items are written by one thread at a time.
/// </remarks>
/// <param name="cluster">The large objects the cluster's calls passed; null to share only <see cref="Shared{T}"/> handles.</param>
/// <param name="owner">The cluster the call is made on: handles of another are refused.</param>
/// <param name="keep">
/// Most large values whose bytes the writer keeps for their next coming, the latest used kept; 0 for every one the call
/// passes (a map, whose writer lives while its items are written). A stream, which lasts as long as its source, keeps a few.
/// </param>
internal sealed class ArgumentSharing(RepeatedArguments? cluster, Cluster? owner = null, int keep = 0) : IDisposable
{
    /// <summary>Large values a stream's writer keeps the bytes of.</summary>
    public const int StreamKeeps = 4;

    private readonly List<SharedValue> _itemShares = [];

    /// <summary>The entries whose shared value the writer holds, the latest used last.</summary>
    private readonly List<Entry> _kept = [];

    /// <summary>The copy of each kept value that the chunk being written refers to (see <see cref="SharedValue.Copy"/>).</summary>
    private readonly Dictionary<SharedValue, SharedValue> _chunkValues = new(ReferenceEqualityComparer.Instance);
    private ConditionalWeakTable<object, Entry>? _entries;
    private GrowableBuffer _buffer = null!;
    private Candidate? _candidate;

    /// <summary>A bit per argument position at which a large value came in this call: only there are objects looked up.</summary>
    private int _positions;

    /// <summary>The shared values the item written last refers to.</summary>
    public IReadOnlyList<SharedValue> ItemShares => _itemShares;

    /// <summary>Bytes the item written last would have carried more without its references.</summary>
    public long ItemReplacedBytes { get; private set; }

    /// <summary>Starts an item, written into <paramref name="buffer"/>.</summary>
    public void BeginItem(GrowableBuffer buffer)
    {
        _buffer = buffer;
        _itemShares.Clear();
        ItemReplacedBytes = 0;
    }

    /// <summary>Writes the argument at <paramref name="position"/> with <paramref name="formatter"/> (its declared type's), or a reference to it.</summary>
    public void Write<T>(ref MessagePackWriter writer, int position, T value, IMessagePackFormatter<T> formatter)
    {
        if (typeof(T).IsValueType || value is null)
        {
            formatter.Serialize(ref writer, value, RemoteSerializer.Options);
            return;
        }

        if (value is ISharedHandle handle)
        {
            Refer(ref writer, Checked(handle, position));
            return;
        }

        if (cluster is null)
        {
            formatter.Serialize(ref writer, value, RemoteSerializer.Options);
            return;
        }

        if ((_positions & (1 << position)) != 0 && _entries!.TryGetValue(value, out var known) && ReferenceEquals(known.Formatter, formatter))
        {
            Refer(ref writer, ForChunk(Keep(known, known.Shared ?? ShareAgain(known, value, formatter))));
            return;
        }

        writer.Flush();
        var start = _buffer.WrittenCount;
        formatter.Serialize(ref writer, value, RemoteSerializer.Options);
        writer.Flush();
        var size = _buffer.WrittenCount - start;
        if (size < WireLimits.MinSharedValueBytes)
        {
            return;
        }

        _positions |= 1 << position;
        _entries ??= [];
        var entry = new Entry(formatter);
        _entries.AddOrUpdate(value, entry);
        if (cluster.SeenBefore(value))
        {
            // An earlier call passed it: the workers may hold these very bytes already, and only a reference goes.
            var shared = Keep(entry, SharedValue.Of(_buffer.WrittenSpan.Slice(start, size)));
            _buffer.Truncate(start);
            Refer(ref writer, ForChunk(shared));
            return;
        }

        DropCandidate();
        _candidate = new Candidate(entry, start, size);
    }

    /// <summary>
    /// The items written so far were sealed into a chunk of <paramref name="data"/> (the buffer's bytes from its start),
    /// held by <paramref name="lease"/> if pooled: the latest large value's bytes are now there.
    /// </summary>
    public void Sealed(ReadOnlyMemory<byte> data, RentedBuffer? lease)
    {
        // The chunk owns its copies now; the next chunk's items refer to copies of their own.
        _chunkValues.Clear();
        if (_candidate is { Bytes: null } candidate)
        {
            candidate.Bytes = data.Slice(candidate.Start, candidate.Length);
            candidate.Lease = lease;
            lease?.Retain();
        }
    }

    public void Dispose()
    {
        DropCandidate();
        foreach (var copy in _chunkValues.Values)
        {
            copy.DropBytes();
        }

        _chunkValues.Clear();
        foreach (var entry in _kept)
        {
            entry.Shared?.DropBytes();
            entry.Shared = null;
        }

        _kept.Clear();
    }

    /// <summary>Keeps <paramref name="shared"/> as <paramref name="entry"/>'s value, the latest used; a stream's writer lets go of the value used least recently beyond its few.</summary>
    private SharedValue Keep(Entry entry, SharedValue shared)
    {
        if (entry.Shared is null)
        {
            entry.Shared = shared;
            _kept.Add(entry);
        }
        else if (keep > 0)
        {
            // A map keeps every value, in any order; a stream's few are kept in the order they were last used.
            _kept.Remove(entry);
            _kept.Add(entry);
        }

        if (keep > 0 && _kept.Count > keep)
        {
            var oldest = _kept[0];
            _kept.RemoveAt(0);
            if (_chunkValues.Remove(oldest.Shared!, out var copy))
            {
                // The chunk being written refers to it still, through its copy: the copy stays with the chunk.
                _chunkValues.Add(copy, copy);
            }

            oldest.Shared!.DropBytes();
            oldest.Shared = null;
        }

        return shared;
    }

    /// <summary>The chunk being written refers to a copy of <paramref name="shared"/>, which it takes with it when sealed.</summary>
    private SharedValue ForChunk(SharedValue shared)
    {
        if (!_chunkValues.TryGetValue(shared, out var copy))
        {
            copy = shared.Copy();
            _chunkValues.Add(shared, copy);
        }

        return copy;
    }

    private void Refer(ref MessagePackWriter writer, SharedValue shared)
    {
        SharedReference.Write(ref writer, shared.Hash);
        if (!_itemShares.Contains(shared))
        {
            _itemShares.Add(shared);
        }

        ItemReplacedBytes += shared.Size - SharedReference.Size;
    }

    /// <summary>The value of a handle passed at <paramref name="position"/>, if this call may pass it.</summary>
    /// <exception cref="SharedHandleException">It is another cluster's, or it was disposed.</exception>
    private SharedValue Checked(ISharedHandle handle, int position)
    {
        var type = Serialization.TypeNames.Of(handle.GetType());
        if (handle.Cluster is not { } made)
        {
            throw new SharedHandleException(position, $"is a {type} that a worker read, which only its own tasks can use. Pass it to the caller and share its value with the cluster's ShareAsync there.");
        }

        if (!ReferenceEquals(made, owner))
        {
            throw new SharedHandleException(position, $"is a {type} of cluster {made.Id}, not of this cluster {owner?.Id}: a shared value is held by the workers of the cluster that shared it. Share the value with this cluster's ShareAsync and pass that handle.");
        }

        if (handle.IsDisposed)
        {
            throw new SharedHandleException(position, $"is a {type} that was disposed, so cluster {made.Id}'s workers let go of its value. Dispose a handle only after the calls that pass it ended, or share the value again with ShareAsync.");
        }

        return handle.Shared!;
    }

    /// <summary>A large value comes a second time in this call: its bytes, kept from its first time or written again, become shared.</summary>
    private SharedValue ShareAgain<T>(Entry entry, T value, IMessagePackFormatter<T> formatter)
    {
        if (_candidate is { } candidate && candidate.Entry == entry)
        {
            var shared = SharedValue.Of(candidate.Bytes is { } sealedBytes ? sealedBytes.Span : _buffer.WrittenSpan.Slice(candidate.Start, candidate.Length));
            DropCandidate();
            return shared;
        }

        var again = new ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(again);
        formatter.Serialize(ref writer, value, RemoteSerializer.Options);
        writer.Flush();
        return SharedValue.Of(again.WrittenSpan);
    }

    private void DropCandidate()
    {
        _candidate?.Lease?.Release();
        _candidate = null;
    }

    /// <summary>A large object of this call: the formatter it was written with, and its shared value once it came again.</summary>
    private sealed class Entry(object formatter)
    {
        public object Formatter { get; } = formatter;

        public SharedValue? Shared { get; set; }
    }

    /// <summary>The latest large value's bytes: at <see cref="Start"/> in the buffer being written, or in a sealed chunk.</summary>
    private sealed class Candidate(Entry entry, int start, int length)
    {
        public Entry Entry { get; } = entry;

        public int Start { get; } = start;

        public int Length { get; } = length;

        public ReadOnlyMemory<byte>? Bytes { get; set; }

        public RentedBuffer? Lease { get; set; }
    }
}
