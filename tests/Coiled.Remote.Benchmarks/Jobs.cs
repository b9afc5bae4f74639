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
}
