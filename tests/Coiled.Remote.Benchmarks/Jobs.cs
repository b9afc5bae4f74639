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

    /// <summary>The pauses <see cref="SlowLength"/> owes and has not yet slept, in this worker.</summary>
    private static long _owedMicroseconds;

    private static byte[]? _bytes;

    /// <summary>Answers <paramref name="length"/> bytes, the same array every time: what is measured is moving them back.</summary>
    [Remote]
    public static byte[] Bytes(int length) => _bytes is { } kept && kept.Length == length ? kept : _bytes = new byte[length];

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
}
