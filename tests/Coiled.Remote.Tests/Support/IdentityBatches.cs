using Coiled.Remote.Transport.Protocol;
using Google.Protobuf;
using MessagePack;

namespace Coiled.Remote.Tests.Support;

/// <summary>Task batches of <see cref="TestJobs.Identity"/> made by hand, for tests that drive a worker's task stream themselves.</summary>
internal static class IdentityBatches
{
    private const string IdentityId = "Coiled.Remote.Tests.Support.TestJobs.Identity(System.Int32)";

    /// <summary>One task per item, its id the item itself.</summary>
    public static TaskBatch Of(IEnumerable<int> items)
    {
        var values = items.ToList();
        var batch = new TaskBatch
        {
            Assembly = typeof(TestJobs).Assembly.GetName().Name!,
            StubId = IdentityId,
            Arguments = ByteString.CopyFrom([.. values.SelectMany(i => MessagePackSerializer.Serialize(new object[] { i }))]),
        };
        batch.TaskIds.AddRange(values.Select(i => (ulong)i));
        return batch;
    }
}
