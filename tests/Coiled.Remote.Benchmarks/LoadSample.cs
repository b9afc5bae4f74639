namespace Coiled.Remote.Benchmarks;

/// <summary>What one load-test task saw of its worker process's garbage collector, when the task ended.</summary>
/// <param name="Item">The item the task ran.</param>
/// <param name="ProcessId">The worker process that ran it.</param>
/// <param name="Heavy">Whether that process carries the large retained heap.</param>
/// <param name="Rounds">Rounds of churn the task did.</param>
/// <param name="LargeBufferBytes">Large buffers the task allocated and dropped (heavy processes) to bring on a gen2 collection.</param>
/// <param name="RetainedBytes">The process's retained heap (the graph the tasks keep), by count of chunks.</param>
/// <param name="Gen2Collections">The process's gen2 collections since <see cref="LoadJobs.Prepare"/> last ran in it (or since it started).</param>
/// <param name="LargestGen2HeapBytes">The largest heap size of a full blocking (gen2) collection the process's tasks observed since then.</param>
/// <param name="LargestGen2PromotedBytes">The most bytes such a collection found alive.</param>
/// <param name="LongestPauseMs">The longest collection pause the process's tasks observed since then.</param>
/// <param name="TotalPauseMs">How long the process's collections paused it since then (<c>GC.GetTotalPauseDuration()</c>).</param>
/// <param name="GcMode">Which collector the process runs, e.g. "workstation, Batch" (non-concurrent).</param>
public sealed record LoadSample(
    int Item,
    int ProcessId,
    bool Heavy,
    long Rounds,
    long LargeBufferBytes,
    long RetainedBytes,
    int Gen2Collections,
    long LargestGen2HeapBytes,
    long LargestGen2PromotedBytes,
    double LongestPauseMs,
    double TotalPauseMs,
    string GcMode);
