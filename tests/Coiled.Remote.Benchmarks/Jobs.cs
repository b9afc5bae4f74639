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
