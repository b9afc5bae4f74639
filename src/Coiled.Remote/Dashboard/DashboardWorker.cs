namespace Coiled.Remote.Dashboard;

/// <summary>One worker as the dashboard shows it.</summary>
/// <param name="Id">The worker's id.</param>
/// <param name="State">Its <see cref="WorkerState"/>, as text.</param>
/// <param name="Address">Where it listens.</param>
/// <param name="Cores">Processors of its machine.</param>
/// <param name="Slots">Tasks it runs at once: its lanes in the task stream.</param>
/// <param name="CpuPercent">Processor use of its process since the last report, as a share of all its cores (0 to 100); null until two reports came.</param>
/// <param name="WorkingSetBytes">Its process's working set; null until its first report.</param>
/// <param name="GcHeapBytes">Its managed heap; null until its first report.</param>
/// <param name="Running">Tasks it runs now.</param>
/// <param name="Done">Tasks it ran.</param>
/// <param name="Ended">Why it ended (lost, interrupted, retired); null while it is live.</param>
internal sealed record DashboardWorker(
    string Id, string State, string Address, int Cores, int Slots, double? CpuPercent, long? WorkingSetBytes, long? GcHeapBytes, int Running, long Done, string? Ended);
