using Coiled.Remote.Scheduling;
using Microsoft.Extensions.Time.Testing;

namespace Coiled.Remote.Tests.Scheduling;

/// <summary>The backoff before a task that threw runs again.</summary>
public sealed class RetryTimerTests
{
    [Fact]
    public void DelayBefore_SuccessiveAttempts_DoublesFrom100MillisecondsUpTo10Seconds()
    {
        Enumerable.Range(1, 10).Select(a => RetryTimer.DelayBefore(a).TotalMilliseconds)
            .Should().Equal(100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000);
    }

    [Fact]
    public void DelayBefore_HugeAttempt_StaysAtTheCapWithoutOverflowing()
    {
        RetryTimer.DelayBefore(int.MaxValue).Should().Be(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void Schedule_BackoffNotOver_HandsTheTaskOnlyWhenItIs()
    {
        var time = new FakeTimeProvider();
        var due = new List<int>();
        var timer = new RetryTimer(time, task => due.Add(task.Attempt));
        var job = new MapJob<int>(new TestStub(), 1, default);

        timer.Schedule(new PendingTask(job, 0, ReadOnlyMemory<byte>.Empty, 3, null));
        time.Advance(TimeSpan.FromMilliseconds(399));
        due.Should().BeEmpty();
        time.Advance(TimeSpan.FromMilliseconds(1));

        due.Should().Equal(3);
    }
}
