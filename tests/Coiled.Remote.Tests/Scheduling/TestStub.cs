using System.Buffers;
using Coiled.Remote.Stubs;

namespace Coiled.Remote.Tests.Scheduling;

/// <summary>A stub of <c>int Square(int)</c> that the scheduler sends but nothing runs.</summary>
internal sealed class TestStub(int retries = 0) : RemoteStub("Tests.Square(System.Int32)", (Func<int, int>)Square, retries, 0)
{
    private static int Square(int x) => x * x;

    public override ValueTask InvokeAsync(ReadOnlyMemory<byte> arguments, IBufferWriter<byte> result, CancellationToken cancellationToken)
        => throw new NotSupportedException("Scheduler tests run nothing.");
}
