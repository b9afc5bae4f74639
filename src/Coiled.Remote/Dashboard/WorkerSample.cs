namespace Coiled.Remote.Dashboard;

/// <summary>One worker as the cluster knows it now, for the dashboard to show.</summary>
/// <param name="Id">The worker's id.</param>
/// <param name="State">Where it is in its life.</param>
/// <param name="Address">Where it listens.</param>
/// <param name="Cores">Processors of its machine.</param>
/// <param name="Slots">Tasks it runs at once.</param>
/// <param name="CpuSeconds">Processor time its process used so far; null until its first report.</param>
/// <param name="WorkingSetBytes">Its process's working set; null until its first report.</param>
/// <param name="GcHeapBytes">Its managed heap; null until its first report.</param>
internal sealed record WorkerSample(string Id, WorkerState State, Uri Address, int Cores, int Slots, double? CpuSeconds, long? WorkingSetBytes, long? GcHeapBytes);
