namespace Coiled.Remote.Scheduling;

/// <summary>
/// Holds a task that threw back for a backoff that doubles with each attempt, from <see cref="FirstDelay"/> up to
/// <see cref="MaxDelay"/>, then hands it to <paramref name="due"/>.
/// </summary>
/// <param name="time">The clock the backoff is waited on.</param>
/// <param name="due">Told, on a timer thread, when a task's backoff ended.</param>
internal sealed class RetryTimer(TimeProvider time, Action<PendingTask> due)
{
    /// <summary>The wait before the first retry.</summary>
    public static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest wait before a retry.</summary>
    public static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(10);

    /// <summary>The wait before retry <paramref name="attempt"/> (1 for the first): <see cref="FirstDelay"/> × 2^(attempt-1), at most <see cref="MaxDelay"/>.</summary>
    public static TimeSpan DelayBefore(int attempt)
        => TimeSpan.FromTicks(Math.Min(MaxDelay.Ticks, FirstDelay.Ticks << Math.Clamp(attempt - 1, 0, 20)));

    /// <summary>Starts the backoff of <paramref name="task"/>, whose <see cref="PendingTask.Attempt"/> is the retry it is about to make.</summary>
    public void Schedule(PendingTask task)
    {
        ITimer? timer = null;
        timer = time.CreateTimer(
            _ =>
            {
                timer?.Dispose();
                due(task);
            },
            null,
            DelayBefore(task.Attempt),
            Timeout.InfiniteTimeSpan);
    }
}
