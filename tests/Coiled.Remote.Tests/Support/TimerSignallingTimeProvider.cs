using System.Collections.Concurrent;
using Microsoft.Extensions.Time.Testing;

namespace Coiled.Remote.Tests.Support;

/// <summary>
/// Fake time that says when a timer was set to a given due time (created with it, or changed to it), so that a test
/// advances past a deadline only once the code under test has set it.
/// </summary>
internal sealed class TimerSignallingTimeProvider : FakeTimeProvider
{
    private readonly ConcurrentDictionary<TimeSpan, TaskCompletionSource> _set = new();

    /// <summary>Completes once a timer was set to fire <paramref name="dueTime"/> from when it was set; 30 s at most.</summary>
    public Task WhenTimerSetAsync(TimeSpan dueTime) => Signal(dueTime).Task.WaitAsync(TimeSpan.FromSeconds(30));

    /// <summary>Forgets that a timer was set to <paramref name="dueTime"/>, so that the next one can be awaited.</summary>
    public void Forget(TimeSpan dueTime) => _set.TryRemove(dueTime, out _);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new SignallingTimer(base.CreateTimer(callback, state, dueTime, period), this);
        Signal(dueTime).TrySetResult();
        return timer;
    }

    private TaskCompletionSource Signal(TimeSpan dueTime) => _set.GetOrAdd(dueTime, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    /// <summary>A fake timer that reports its changes.</summary>
    private sealed class SignallingTimer(ITimer inner, TimerSignallingTimeProvider time) : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            var changed = inner.Change(dueTime, period);
            time.Signal(dueTime).TrySetResult();
            return changed;
        }

        public void Dispose() => inner.Dispose();

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
