using System.Diagnostics;
using System.Runtime;
using System.Runtime.CompilerServices;
using Coiled.Remote;

namespace Coiled.Remote.Benchmarks;

/// <summary>
/// The [Remote] methods of the load test: they keep their worker's slot busy and make the process's garbage collector
/// work, with gen2 collections on every worker and gen2 collections of a heap of several GB on the heavy ones.
/// </summary>
public static class LoadJobs
{
    private const int NodesPerChunk = 1024;

    /// <summary>One chunk of a graph: an array of <see cref="NodesPerChunk"/> references (24 + 8 per element) and as many 32-byte nodes.</summary>
    private const long ChunkBytes = 24 + (NodesPerChunk * (8 + 32));

    /// <summary>Above the worker daemon's large-object threshold (2 MiB), so that the buffers count against gen2.</summary>
    private const int BufferBytes = 4 << 20;

    /// <summary>Far more large buffers than a collector lets through without a gen2 collection (its budget is a few GB at most).</summary>
    private const long MaxBufferBytesPerTask = 64L << 30;

    // One state per worker process, built by its first task; a process may run several tasks at once.
    private static readonly Lock Gate = new();
    private static List<Node[]>? _retained;
    private static bool _heavy;
    private static int _observedCollections;
    private static int _observedGen2;
    private static int _gen2Before;
    private static TimeSpan _pausedBefore;
    private static long _largestGen2Heap;
    private static long _largestGen2Promoted;
    private static TimeSpan _longestPause;
    private static string? _collectionLog;

    /// <summary>Collections that paused the process at least this long are written to its log, as gen2 ones are.</summary>
    private static readonly TimeSpan LongPause = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Builds this process's retained graph if no task has yet (the first processes to get here become the heavy ones
    /// and grow theirs to <see cref="LoadWork.HeavyBytes"/>), then starts the process's figures afresh, so that the
    /// samples of <see cref="Churn"/> describe the churn alone.
    /// </summary>
    [Remote]
    public static LoadSample Prepare(int item, LoadWork work)
    {
        lock (Gate)
        {
            var sample = Sample(item, rounds: 0, Join(work, item), largeBytes: 0);
            _gen2Before = GC.CollectionCount(2);
            _pausedBefore = GC.GetTotalPauseDuration();
            _largestGen2Heap = 0;
            _largestGen2Promoted = 0;
            _longestPause = TimeSpan.Zero;
            return sample;
        }
    }

    /// <summary>
    /// Records that it ran, then churns for <see cref="LoadWork.ChurnSeconds"/>: round after round it builds and drops a
    /// graph of small objects (young garbage) and replaces a random chunk of the process's retained graph with another
    /// (so retained objects die old and gen2 fills up). A task of a heavy process then allocates and drops large buffers
    /// until its process has run a gen2 collection since the task began.
    /// </summary>
    /// <remarks>
    /// The large object heap is part of gen2: using up its allocation budget starts a full blocking collection of the
    /// whole heap, several GB of small objects on a heavy process. The churn alone would get there only after promoting
    /// a good part of that into gen2, more than a heavy process's share of a busy machine allows within the map.
    /// </remarks>
    [Remote]
    public static LoadSample Churn(int item, LoadWork work)
    {
        File.Create(Path.Combine(work.Folder, "runs", $"{item}-{Guid.NewGuid():N}")).Dispose();
        var random = new Random(item);
        List<Node[]> retained;
        lock (Gate)
        {
            retained = Join(work, item);
        }

        var gen2AtStart = GC.CollectionCount(2);
        var end = Stopwatch.GetTimestamp() + (long)(work.ChurnSeconds * Stopwatch.Frequency);
        long rounds = 0;
        do
        {
            GC.KeepAlive(NewChunk(random));
            var chunk = NewChunk(random);
            lock (Gate)
            {
                retained[random.Next(retained.Count)] = chunk;
                Observe();
            }

            rounds++;
        }
        while (Stopwatch.GetTimestamp() < end);

        long large = 0;
        while (_heavy && GC.CollectionCount(2) == gen2AtStart)
        {
            GC.KeepAlive(NewBuffer());
            large += BufferBytes;
            lock (Gate)
            {
                Observe();
            }

            if (large > MaxBufferBytesPerTask)
            {
                throw new InvalidOperationException($"Process {Environment.ProcessId} allocated {large:N0} bytes of large buffers and its collector ran no gen2 collection.");
            }
        }

        lock (Gate)
        {
            return Sample(item, rounds, retained, large);
        }
    }

    /// <summary>The process's retained graph, built by the first task to ask. Called under <see cref="Gate"/>.</summary>
    private static List<Node[]> Join(LoadWork work, int item)
    {
        if (_retained is null)
        {
            _collectionLog = Path.Combine(work.Folder, "collections", $"{Environment.ProcessId}.log");
            _heavy = ClaimHeavy(work);
            var random = new Random(item);
            var retained = new List<Node[]>();
            for (long bytes = 0; bytes < (_heavy ? work.HeavyBytes : work.RetainedBytes); bytes += ChunkBytes)
            {
                retained.Add(NewChunk(random));
                Observe();
            }

            _retained = retained;
        }

        return _retained;
    }

    /// <summary>The first processes to create <c>heavy-0</c>, <c>heavy-1</c>, ... in the shared folder are the heavy ones.</summary>
    private static bool ClaimHeavy(LoadWork work)
    {
        for (var i = 0; i < work.HeavyWorkers; i++)
        {
            var path = Path.Combine(work.Folder, $"heavy-{i}");
            try
            {
                using var claim = new StreamWriter(new FileStream(path, FileMode.CreateNew, FileAccess.Write));
                claim.Write(Environment.ProcessId);
                return true;
            }
            catch (IOException) when (File.Exists(path))
            {
                // Another process claimed this one.
            }
        }

        return false;
    }

    /// <summary>The process's figures now. Called under <see cref="Gate"/>.</summary>
    private static LoadSample Sample(int item, long rounds, List<Node[]> retained, long largeBytes)
    {
        Observe();
        return new LoadSample(
            item,
            Environment.ProcessId,
            _heavy,
            rounds,
            largeBytes,
            retained.Count * ChunkBytes,
            GC.CollectionCount(2) - _gen2Before,
            _largestGen2Heap,
            _largestGen2Promoted,
            _longestPause.TotalMilliseconds,
            (GC.GetTotalPauseDuration() - _pausedBefore).TotalMilliseconds,
            $"{(GCSettings.IsServerGC ? "server" : "workstation")}, {GCSettings.LatencyMode}");
    }

    /// <summary>
    /// Notes the pause of the last collection if there was one since the last call, and the heap of the last full
    /// blocking one if that is new. Called under <see cref="Gate"/>, often enough to see nearly every collection.
    /// </summary>
    private static void Observe()
    {
        var collections = GC.CollectionCount(0);
        if (collections == _observedCollections)
        {
            return;
        }

        _observedCollections = collections;
        var last = GC.GetGCMemoryInfo(GCKind.Any);
        if (last.PauseDurations.Length > 0)
        {
            Note(last.PauseDurations[0], last);
        }

        var gen2 = GC.CollectionCount(2);
        if (gen2 != _observedGen2)
        {
            _observedGen2 = gen2;
            var full = GC.GetGCMemoryInfo(GCKind.FullBlocking);
            _largestGen2Heap = Math.Max(_largestGen2Heap, full.HeapSizeBytes);
            _largestGen2Promoted = Math.Max(_largestGen2Promoted, full.PromotedBytes);
            if (full.Index != last.Index && full.PauseDurations.Length > 0)
            {
                Note(full.PauseDurations[0], full);
            }
        }
    }

    private static void Note(TimeSpan pause, GCMemoryInfo info)
    {
        if (pause > _longestPause)
        {
            _longestPause = pause;
        }

        // The log outlives the process's connection: a worker declared lost never returns its last samples.
        if ((info.Generation == 2 || pause >= LongPause) && _collectionLog is not null)
        {
            var line = new CollectionEvent(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), info.Generation, pause.TotalMilliseconds, info.HeapSizeBytes, info.PromotedBytes).ToLine();
            File.AppendAllText(_collectionLog, line + "\n");
        }
    }

    /// <summary>A graph of <see cref="NodesPerChunk"/> small objects, each pointing at an earlier one.</summary>
    /// <remarks>Not inlined, so that the graph escapes and the JIT cannot allocate it on the stack.</remarks>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Node[] NewChunk(Random random)
    {
        var nodes = new Node[NodesPerChunk];
        for (var i = 0; i < nodes.Length; i++)
        {
            var node = new Node { Value = i };
            node.Next = i == 0 ? node : nodes[random.Next(i)];
            nodes[i] = node;
        }

        return nodes;
    }

    /// <summary>A large buffer: on the large object heap, which is collected with gen2.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static byte[] NewBuffer() => new byte[BufferBytes];

    private sealed class Node
    {
        public Node? Next;
        public long Value;
    }
}
