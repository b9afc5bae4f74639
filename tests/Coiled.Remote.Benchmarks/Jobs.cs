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

    private static byte[]? _bytes;

    /// <summary>Answers <paramref name="length"/> bytes, the same array every time: what is measured is moving them back.</summary>
    [Remote]
    public static byte[] Bytes(int length) => _bytes is { } kept && kept.Length == length ? kept : _bytes = new byte[length];
}
