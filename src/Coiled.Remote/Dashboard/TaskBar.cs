namespace Coiled.Remote.Dashboard;

/// <summary>
/// One bar of the dashboard's task stream: tasks of one method that ran back to back in one slot of one worker,
/// in milliseconds since the cluster's dashboard started. Consecutive batches of the same method on the same slot
/// extend one bar, so a busy slot is a few bars however many tasks it runs.
/// </summary>
/// <param name="Id">Grows with every new bar; a bar that is extended keeps its id.</param>
/// <param name="Worker">The worker's id.</param>
/// <param name="Lane">The worker's slot, from 0.</param>
/// <param name="Method">The method's display name.</param>
/// <param name="StartMs">When the first of its tasks started.</param>
/// <param name="EndMs">When the last of its tasks ended.</param>
/// <param name="Tasks">How many tasks it stands for.</param>
/// <param name="Failed">Whether its tasks failed for good.</param>
internal sealed record TaskBar(long Id, string Worker, int Lane, string Method, double StartMs, double EndMs, long Tasks, bool Failed);
