namespace Coiled.Remote.Scheduling;

/// <summary>
/// A worker as the <see cref="Scheduler"/> sees it: who it is, how many tasks it runs at once, and how to wake the loop
/// that sends it work. The scheduler keeps what it placed on the worker in a <see cref="WorkerTasks"/> of its own.
/// </summary>
internal interface ITaskWorker
{
    string Id { get; }

    /// <summary>Where the worker is reached, for messages.</summary>
    Uri Address { get; }

    /// <summary>Tasks the worker runs at once; it may change when the worker opens a new task stream.</summary>
    int Slots { get; }

    /// <summary>The worker's id as a metric tag.</summary>
    KeyValuePair<string, object?> Tag { get; }

    /// <summary>Where the worker is in its life; the scheduler changes it under its lock, anyone may read it.</summary>
    WorkerState State { get; set; }

    /// <summary>Tells the worker's send loop that the scheduler may have something for it.</summary>
    void Wake();

    /// <summary>Stops the worker's connected-time clock; later calls change nothing.</summary>
    void MarkEnded();

    /// <summary>Describes how the worker ended, for messages and for the deaths a task counts.</summary>
    Task<string> DescribeLossAsync(Exception? error);
}
