using Coiled.Remote.Transport;

namespace Coiled.Remote.Tests.Protocol.Transport;

/// <summary>The shared pooled array under large arguments: it goes back to the pool once, after its last holder.</summary>
public sealed class RentedBufferTests
{
    [Fact]
    public void Release_ByTheLastHolder_ReturnsTheArrayAndLaterUseThrows()
    {
        var buffer = RentedBuffer.Rent(1000);
        buffer.Retain();

        buffer.Release();
        buffer.Array.Length.Should().BeGreaterThanOrEqualTo(1000, "one holder is left");
        buffer.Release();

        var use = () => buffer.Array;
        use.Should().Throw<ObjectDisposedException>().WithMessage("*went back to the pool*");
    }

    [Fact]
    public void Release_MoreOftenThanHeld_Throws()
    {
        var buffer = RentedBuffer.Rent(16);
        buffer.Release();

        var again = () => buffer.Release();

        again.Should().Throw<InvalidOperationException>().WithMessage("A buffer was released more often than it was held.");
    }

    [Fact]
    public void Retain_AfterTheLastRelease_Throws()
    {
        var buffer = RentedBuffer.Rent(16);
        buffer.Release();

        var retain = () => buffer.Retain();

        retain.Should().Throw<InvalidOperationException>().WithMessage("A buffer was retained after it went back to the pool.");
    }

    [Fact]
    public async Task RetainAndRelease_FromManyThreads_ReturnTheArrayExactlyOnce()
    {
        var buffer = RentedBuffer.Rent(64);
        var array = buffer.Array;

        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                buffer.Retain();
                buffer.Release();
            }
        })));

        array.Should().BeSameAs(buffer.Array, "the creator's hold kept it out of the pool");
        buffer.Release();
        var use = () => buffer.Array;
        use.Should().Throw<ObjectDisposedException>();
    }
}
