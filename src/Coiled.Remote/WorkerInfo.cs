namespace Coiled.Remote;

/// <summary>One worker of a cluster.</summary>
/// <param name="Id">The worker's id, e.g. "w-3f9a1c"; also quoted by errors raised on that worker.</param>
/// <param name="Address">Where the worker listens.</param>
/// <param name="Cores">Processors of the worker's machine; also its number of execution slots.</param>
/// <param name="MemoryBytes">Memory available to the worker's process.</param>
/// <param name="ProcessId">The worker's process id on its machine.</param>
/// <param name="State">Where the worker is in its life.</param>
public sealed record WorkerInfo(string Id, Uri Address, int Cores, long MemoryBytes, int ProcessId, WorkerState State);
