using Coiled.Remote.Scheduling;

namespace Coiled.Remote.Tests.Scheduling;

/// <summary>A stream's window: room in items and in bytes of arguments and results, and who waits for it.</summary>
public sealed class StreamWindowTests
{
    private static readonly TimeSpan Safety = TimeSpan.FromSeconds(30);

    [Fact]
    public void TryReserve_ItemWindowFull_RefusesUntilTheConsumerTakesOne()
    {
        var window = new StreamWindow(maxItems: 3, maxBytes: 1000);
        for (var i = 0; i < 3; i++)
        {
            window.TryReserve().Should().BeTrue();
            window.OnArguments(i, 10);
        }

        window.TryReserve().Should().BeFalse();
        window.OnCompleted(0, 5);
        window.TryReserve().Should().BeFalse("a completed result still holds its place until the consumer takes it");
        window.OnTaken(0);

        window.TryReserve().Should().BeTrue();
        window.PeakItems.Should().Be(3);
        window.BytesInFlight.Should().Be(20);
    }

    [Fact]
    public void TryReserve_BytesReachTheBudget_RefusesUntilTheyFallBelowIt()
    {
        var window = new StreamWindow(maxItems: 100, maxBytes: 1000);
        window.TryReserve().Should().BeTrue();
        window.OnArguments(0, 600);
        window.TryReserve().Should().BeTrue("600 bytes are below the budget, so one more item is read");
        window.OnArguments(1, 600);

        window.TryReserve().Should().BeFalse();
        window.BytesInFlight.Should().Be(1200);
        window.OnCompleted(0, 100);

        window.BytesInFlight.Should().Be(700);
        window.TryReserve().Should().BeTrue();
        window.PeakBytes.Should().Be(1200, "the budget is exceeded by at most the one item read below it");
    }

    [Fact]
    public void TryReserve_ItemLargerThanTheWholeBudget_IsAdmittedWhenTheWindowIsBelowIt()
    {
        var window = new StreamWindow(maxItems: 100, maxBytes: 1000);
        window.TryReserve().Should().BeTrue();
        window.OnArguments(0, 5000);

        window.TryReserve().Should().BeFalse();
        window.OnCompleted(0, 8);
        window.TryReserve().Should().BeTrue("the large item completed and only its 8-byte result is held");
        window.OnArguments(1, 5000);
        window.TryReserve().Should().BeFalse();

        window.PeakBytes.Should().Be(5008);
    }

    [Fact]
    public void OnTaken_AfterEveryItemCompleted_LeavesNothingInFlight()
    {
        var window = new StreamWindow(maxItems: 4, maxBytes: 1000);
        for (var i = 0; i < 10; i++)
        {
            window.TryReserve().Should().BeTrue();
            window.OnArguments(i, 100 + i);
            window.OnCompleted(i, 7);
            window.BytesInFlight.Should().Be(7);
            window.OnTaken(i);
        }

        window.BytesInFlight.Should().Be(0);
        window.PeakBytes.Should().Be(109);
        window.PeakItems.Should().Be(1);
    }

    [Fact]
    public void TryReserve_NoResultYet_ReadsAtMostItemsBeforeFirstResult()
    {
        var window = new StreamWindow(maxItems: 100, maxBytes: 1000, itemsBeforeFirstResult: 3);
        for (var i = 0; i < 3; i++)
        {
            window.TryReserve().Should().BeTrue();
            window.OnArguments(i, 10);
        }

        window.TryReserve().Should().BeFalse("no result has told how large results are");
        window.OnCompleted(0, 0, failed: true);
        window.TryReserve().Should().BeTrue("a failure frees its place among the items not completed");
        window.OnArguments(3, 10);
        window.TryReserve().Should().BeFalse("a failure tells nothing about the size of results, so the cap still holds");

        window.OnCompleted(1, 20);
        for (var i = 4; i < 10; i++)
        {
            window.TryReserve().Should().BeTrue("once a result arrived, only items and bytes limit the window");
            window.OnArguments(i, 10);
        }

        window.PeakItems.Should().Be(10);
    }

    [Fact]
    public void TryReserve_ResultsLargerThanArguments_CountsItemsNotCompletedAtTheExpectedResult()
    {
        var window = new StreamWindow(maxItems: 100, maxBytes: 1000, itemsBeforeFirstResult: 2);
        window.TryReserve().Should().BeTrue();
        window.OnArguments(0, 10);
        window.TryReserve().Should().BeTrue();
        window.OnArguments(1, 10);
        window.OnCompleted(0, 300);

        // 300 waiting, plus item 1 expected to make 300.
        window.BytesInFlight.Should().Be(600);
        window.ResultBytesWaiting.Should().Be(300);
        window.TryReserve().Should().BeTrue();
        window.OnArguments(2, 10);
        window.BytesInFlight.Should().Be(900);
        window.TryReserve().Should().BeTrue("900 bytes are below the budget, so one more item is read");
        window.OnArguments(3, 10);
        window.BytesInFlight.Should().Be(1200);
        window.TryReserve().Should().BeFalse();

        window.OnCompleted(1, 100);

        // The mean is 200, the recent largest 300 less 1/64: 296.
        window.BytesInFlight.Should().Be(400 + (2 * 296), "two results waiting, two items expected to make the recent largest result");
        window.TryReserve().Should().BeTrue("992 bytes are below the budget");
        window.OnArguments(4, 10);
        window.BytesInFlight.Should().Be(400 + (3 * 296));
        window.TryReserve().Should().BeFalse();
        window.OnTaken(0);
        window.BytesInFlight.Should().Be(100 + (3 * 296));
        window.TryReserve().Should().BeTrue();
    }

    [Fact]
    public void BytesInFlight_ResultsGrowAfterManySmallOnes_CountsItemsNotCompletedAtTheLargestRecentResult()
    {
        var window = new StreamWindow(maxItems: 10_000, maxBytes: 100_000, itemsBeforeFirstResult: 16);
        for (var i = 0; i < 3000; i++)
        {
            window.TryReserve().Should().BeTrue();
            window.OnArguments(i, 2);
            window.OnCompleted(i, 1);
            window.OnTaken(i);
        }

        window.TryReserve().Should().BeTrue();
        window.OnArguments(3000, 2);
        window.OnCompleted(3000, 50_000);
        window.TryReserve().Should().BeTrue("50,000 bytes are waiting, below the budget");
        window.OnArguments(3001, 2);

        window.BytesInFlight.Should().Be(50_000 + 50_000, "the item not completed is expected to make as much as the last result, not the mean of 17 bytes");
        window.TryReserve().Should().BeFalse();
    }

    [Fact]
    public void BytesInFlight_ArgumentsLargerThanExpectedResults_CountsTheArguments()
    {
        var window = new StreamWindow(maxItems: 100, maxBytes: 10_000, itemsBeforeFirstResult: 1);
        window.TryReserve().Should().BeTrue();
        window.OnArguments(0, 1000);
        window.OnCompleted(0, 4);
        window.TryReserve().Should().BeTrue();
        window.OnArguments(1, 1000);
        window.TryReserve().Should().BeTrue();
        window.OnArguments(2, 1000);

        window.BytesInFlight.Should().Be(4 + 2000);
    }

    [Fact]
    public async Task ReserveAsync_WindowFull_CompletesOnceTheConsumerMakesRoom()
    {
        var window = new StreamWindow(maxItems: 2, maxBytes: 1000);
        window.TryReserve().Should().BeTrue();
        window.OnArguments(0, 10);
        window.TryReserve().Should().BeTrue();
        window.OnArguments(1, 10);

        var waiting = window.ReserveAsync(CancellationToken.None);
        window.OnCompleted(0, 10);
        waiting.IsCompleted.Should().BeFalse("both items still wait for the consumer");
        window.OnTaken(0);

        await waiting.WaitAsync(Safety);
        window.TryReserve().Should().BeFalse("the room made by one taken item went to the waiter");
    }

    [Fact]
    public async Task ReserveAsync_Cancelled_ThrowsOperationCanceled()
    {
        var window = new StreamWindow(maxItems: 1, maxBytes: 1000);
        window.TryReserve().Should().BeTrue();
        using var cancel = new CancellationTokenSource();

        var waiting = window.ReserveAsync(cancel.Token);
        await cancel.CancelAsync();

        await waiting.Invoking(w => w.WaitAsync(Safety)).Should().ThrowAsync<OperationCanceledException>();
    }
}
