using Coiled.Remote.Sharing;

namespace Coiled.Remote.Tests.Sharing;

/// <summary>How long a call refers to the shared values its items pass: a map until it ends, a stream while its items that pass each run.</summary>
public sealed class CallSharesTests
{
    [Fact]
    public void ItemEnded_StreamsLastItemOfAValueEnds_ReportsThatValueOnly()
    {
        var first = SharedValue.Of(new byte[] { 1, 2, 3 });
        var second = SharedValue.Of(new byte[] { 4, 5, 6 });
        var shares = new CallShares(perItem: true);
        shares.Refer(first, 2);
        shares.Refer(second, 1);
        List<SharedValue>? ended = null;

        shares.ItemEnded([first, second], ref ended);
        ended.Should().ContainSingle().Which.Should().BeSameAs(second);
        shares.ItemEnded([first], ref ended);

        ended.Should().Equal(second, first);
        first.Calls.Should().Be(1, "the table ends the call's reference, once, for the values reported");
        shares.TakeAll().Should().BeEmpty();
    }

    [Fact]
    public void ItemEnded_Map_KeepsEveryValueUntilTheCallEnds()
    {
        var value = SharedValue.Of(new byte[] { 1 });
        var shares = new CallShares(perItem: false);
        shares.Refer(value, 1);
        shares.Refer(value, 3);
        List<SharedValue>? ended = null;

        shares.ItemEnded([value], ref ended);

        ended.Should().BeNull();
        value.Calls.Should().Be(1, "a call counts once however many of its chunks refer to the value");
        shares.TakeAll().Should().Equal(value);
    }
}
