using Coiled.Remote.Serialization;
using Coiled.Remote.Sharing;
using Coiled.Remote.Stubs;
using Coiled.Remote.Transport;
using Grpc.Core;
using MessagePack;

namespace Coiled.Remote.Worker;

/// <summary>
/// The shared argument values of one task stream (<c>ShareValue</c> in worker.proto), by hash, as its client sent them:
/// their bytes, held until the client releases them or the stream ends, and each read once per type, the object
/// then handed to every task that refers to it. The client decides what is kept; the store only refuses more than its
/// budget, which the client never sends. Thread-safe: requests add and release, tasks read.
/// </summary>
/// <param name="budget">Most bytes of values held at once.</param>
internal sealed class SharedValueStore(long budget = WireLimits.MaxSharedValueBytes) : ISharedValueSource, IDisposable
{
    private readonly Dictionary<ValueHash, Value> _values = [];
    private long _bytes;

    /// <summary>Bytes of values held.</summary>
    public long Bytes
    {
        get
        {
            lock (_values)
            {
                return _bytes;
            }
        }
    }

    /// <summary>Keeps a value's bytes, which <paramref name="lease"/> holds if pooled (taken over by the store).</summary>
    /// <exception cref="RpcException"><see cref="StatusCode.ResourceExhausted"/>: the value would take the store past its budget.</exception>
    /// <exception cref="RpcException"><see cref="StatusCode.InvalidArgument"/>: the hash is not 32 bytes.</exception>
    public void Add(ReadOnlySpan<byte> sha256, ReadOnlyMemory<byte> bytes, RentedBuffer? lease)
    {
        ValueHash hash;
        try
        {
            hash = ValueHash.From(sha256);
        }
        catch (ArgumentException ex)
        {
            lease?.Release();
            throw new RpcException(new Status(StatusCode.InvalidArgument, ex.Message));
        }

        lock (_values)
        {
            if (_values.ContainsKey(hash))
            {
                lease?.Release();
                return;
            }

            if (_bytes + bytes.Length > budget)
            {
                lease?.Release();
                throw new RpcException(new Status(
                    StatusCode.ResourceExhausted,
                    $"The client sent shared value {hash} of {bytes.Length:N0} bytes while its stream held {_bytes:N0} bytes of them; a stream holds at most {budget:N0}. " +
                    "Use the same Coiled.Remote version on the caller and the workers."));
            }

            _values.Add(hash, new Value(bytes, lease));
            _bytes += bytes.Length;
        }
    }

    /// <summary>Lets go of values; tasks that read them keep their objects.</summary>
    public void Release(IEnumerable<ReadOnlyMemory<byte>> hashes)
    {
        foreach (var sha256 in hashes)
        {
            Value? value;
            lock (_values)
            {
                if (sha256.Length != ValueHash.Bytes || !_values.Remove(ValueHash.From(sha256.Span), out value))
                {
                    continue;
                }

                _bytes -= value.Bytes.Length;
            }

            value.Release();
        }
    }

    public T Read<T>(ValueHash hash)
    {
        Value? value;
        lock (_values)
        {
            _values.TryGetValue(hash, out value);
        }

        return value is null
            ? throw new RemoteArgumentException($"The argument refers to shared value {hash}, which this worker was not sent or has dropped.")
            : value.Read<T>();
    }

    public void Dispose()
    {
        List<Value> values;
        lock (_values)
        {
            values = [.. _values.Values];
            _values.Clear();
            _bytes = 0;
        }

        foreach (var value in values)
        {
            value.Release();
        }
    }

    /// <summary>One value's bytes and the objects read from them, one per type asked for.</summary>
    private sealed class Value(ReadOnlyMemory<byte> bytes, RentedBuffer? lease)
    {
        private readonly List<(Type Type, object? Read)> _read = [];
        private bool _released;

        public ReadOnlyMemory<byte> Bytes { get; } = bytes;

        public T Read<T>()
        {
            // Under the value's lock: tasks that ask at once wait for the one that reads it.
            lock (_read)
            {
                foreach (var (type, read) in _read)
                {
                    if (type == typeof(T))
                    {
                        return (T)read!;
                    }
                }

                if (_released)
                {
                    throw new RemoteArgumentException("The argument refers to a shared value this worker has dropped.");
                }

                var reader = new MessagePackReader(Bytes);
                var value = RemoteSerializer.Options.Resolver.GetFormatterWithVerify<T>().Deserialize(ref reader, RemoteSerializer.Options);
                _read.Add((typeof(T), value));
                return value;
            }
        }

        public void Release()
        {
            lock (_read)
            {
                _released = true;
                lease?.Release();
            }
        }
    }
}
