using Coiled.Remote;

namespace Coiled.Remote.Benchmarks;

/// <summary>The [Remote] methods the benchmarks run.</summary>
public static class Jobs
{
    /// <summary>Does nothing: what is measured is the cluster's overhead per task.</summary>
    [Remote]
    public static int Noop(int x) => x;

    /// <summary>Receives a payload and answers its length: what is measured is moving the bytes.</summary>
    [Remote]
    public static int Length(byte[] data) => data.Length;

    /// <summary>Scores item <paramref name="i"/> against a model that every item shares: what is measured is getting the model to the workers.</summary>
    [Remote]
    public static int Score(byte[] model, int i) => model[i % model.Length];

    [Remote]
    public static int ScoreShared(Shared<byte[]> model, int i) => model.Value[i % model.Value.Length];

    /// <summary>The pauses <see cref="SlowLength"/> owes and has not yet slept, in this worker.</summary>
    private static long _owedMicroseconds;

    /// <summary>
    /// Answers the payload's length after a pause of <paramref name="microseconds"/>, without using the processor: the
    /// pauses a worker owes add up and are slept in whole milliseconds, so short ones cost exactly what they say.
    /// </summary>
    [Remote]
    public static int SlowLength(byte[] data, int microseconds)
    {
        var owed = Interlocked.Add(ref _owedMicroseconds, microseconds);
        if (owed >= 1000)
        {
            var milliseconds = owed / 1000;
            Interlocked.Add(ref _owedMicroseconds, -milliseconds * 1000);
            Thread.Sleep((int)milliseconds);
        }

        return data.Length;
    }

    /// <summary>
    /// Answers a new array of <paramref name="length"/> bytes on every call, its last byte set to <see cref="LastByte"/>:
    /// what is measured is making the result and moving it back.
    /// </summary>
    [Remote]
    public static byte[] Bytes(int length)
    {
        var bytes = new byte[length];
        bytes[^1] = LastByte(length);
        return bytes;
    }

    /// <summary>The last byte of what <see cref="Bytes"/> answers, so that the caller can tell the whole array arrived.</summary>
    public static byte LastByte(int length) => (byte)(length % 251 + 1);

    /// <summary>What <see cref="Hold"/> keeps: memory of this process until it ends.</summary>
    private static byte[]? _held;

    /// <summary>Keeps an array of <paramref name="bytes"/> bytes, every page written, for as long as its process lives; answers that process's id.</summary>
    [Remote]
    public static int Hold(int bytes)
    {
        _held = new byte[bytes];
        for (var i = 0; i < bytes; i += 4096)
        {
            _held[i] = 1;
        }

        return Environment.ProcessId;
    }

    /// <summary>Writes the machine's monotonic clock to <paramref name="path"/>, then ends its process with Environment.Exit.</summary>
    [Remote]
    public static int ExitWithTimestamp(string path)
    {
        File.WriteAllText(path, System.Diagnostics.Stopwatch.GetTimestamp().ToString(System.Globalization.CultureInfo.InvariantCulture));
        Environment.Exit(3);
        return 0;
    }

    /// <summary>The machine's monotonic clock (shared by its processes) when the task ran.</summary>
    [Remote]
    public static long Timestamp(int x) => System.Diagnostics.Stopwatch.GetTimestamp();
}
