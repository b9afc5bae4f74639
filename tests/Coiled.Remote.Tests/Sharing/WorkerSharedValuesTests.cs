using Coiled.Remote.Sharing;

namespace Coiled.Remote.Tests.Sharing;

/// <summary>What a worker is sent and told to drop of the cluster's shared values, within its budget.</summary>
public sealed class WorkerSharedValuesTests
{
    private readonly SharedValueTable _table = new();

    [Fact]
    public void TryPrepare_ValueTheWorkerLacks_IsSentOnceThenOnlyReferredTo()
    {
        var worker = new WorkerSharedValues(_table, budget: 1000);
        var a = Value(1, 400);

        worker.TryPrepare([a]).Should().BeTrue();
        var first = worker.TakeTransfers();
        worker.TryPrepare([a]).Should().BeTrue();
        var second = worker.TakeTransfers();

        first.Send.Should().ContainSingle().Which.Hash.Should().Be(a.Hash);
        first.Drop.Should().BeNull();
        second.Send.Should().BeNull();
        second.Drop.Should().BeNull();
        worker.Bytes.Should().Be(400);
        a.Holders.Should().Be(1);
    }

    [Fact]
    public void TryPrepare_PastTheBudget_DropsValuesNoRunningCallUsesFirstThenTheLeastRecentlyUsed()
    {
        var worker = new WorkerSharedValues(_table, budget: 1000);
        var olderOfACall = Value(1, 300, calls: 1);
        var unused = Value(2, 300, calls: 0);
        var newerOfACall = Value(3, 300, calls: 1);
        foreach (var value in new[] { olderOfACall, unused, newerOfACall })
        {
            worker.TryPrepare([value]).Should().BeTrue();
        }

        worker.TakeTransfers();

        worker.TryPrepare([Value(4, 300, calls: 1)]).Should().BeTrue();
        worker.TakeTransfers().Drop.Should().Equal(unused.Hash);
        worker.TryPrepare([Value(5, 300, calls: 1)]).Should().BeTrue();
        worker.TakeTransfers().Drop.Should().Equal(olderOfACall.Hash);

        worker.Bytes.Should().Be(900);
        worker.Holds(newerOfACall).Should().BeTrue();
    }

    [Fact]
    public void TryPrepare_HeldValuesNeededByTasksInFlight_AreKeptAndTheBatchWaits()
    {
        var worker = new WorkerSharedValues(_table, budget: 1000);
        var a = Value(1, 600, calls: 1);
        worker.TryPrepare([a]).Should().BeTrue();
        worker.TaskPlaced([a]);
        worker.TakeTransfers();
        var b = Value(2, 600, calls: 1);

        worker.TryPrepare([b]).Should().BeFalse("a is needed by a task in flight, and b does not fit beside it");
        worker.TakeTransfers().Should().Be((null, null), "nothing was planned");
        worker.TaskEnded([a]);
        worker.TryPrepare([b]).Should().BeTrue();

        var transfers = worker.TakeTransfers();
        transfers.Drop.Should().Equal(a.Hash);
        transfers.Send.Should().ContainSingle().Which.Hash.Should().Be(b.Hash);
    }

    [Fact]
    public void Clear_StreamEnded_HoldsNothingAndTheTableForgetsValuesNoCallUses()
    {
        var worker = new WorkerSharedValues(_table, budget: 1000);
        var used = Value(1, 100, calls: 1);
        var unused = Value(2, 100, calls: 1);
        worker.TryPrepare([used, unused]).Should().BeTrue();
        _table.EndCall(unused);

        worker.Clear();

        worker.Bytes.Should().Be(0);
        worker.Holds(used).Should().BeFalse();
        _table.Count.Should().Be(1, "a running call still refers to one of them");
        unused.HasBytes.Should().BeFalse("no running call refers to it, so the caller let go of its bytes");
    }

    private SharedValue Value(int seed, int size, int calls = 1)
    {
        var bytes = new byte[size];
        new Random(seed).NextBytes(bytes);
        var value = _table.Intern(SharedValue.Of(bytes));
        for (var i = 0; i < calls; i++)
        {
            SharedValueTable.AddCall(value);
        }

        return value;
    }
}
