namespace Coiled.Remote.Scheduling;

/// <summary>A task id names its job and item: <c>(jobId &lt;&lt; 32) | itemIndex</c>.</summary>
internal static class TaskIds
{
    public static ulong Of(uint jobId, int index) => ((ulong)jobId << 32) | (uint)index;

    public static int IndexOf(ulong taskId) => (int)(uint)taskId;
}
