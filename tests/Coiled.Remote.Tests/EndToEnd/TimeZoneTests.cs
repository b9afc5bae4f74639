using Coiled.Remote.Tests.Support;

namespace Coiled.Remote.Tests.EndToEnd;

/// <summary>
/// DateTime values between a caller and workers in different time zones: a Local time keeps its instant and its
/// kind (the worker sees it in its own zone, the caller gets back exactly what it sent), Utc and Unspecified keep their
/// clock reading. Alone, because the workers' zone comes from the TZ variable of this process while they start.
/// </summary>
[Collection(AloneCollection.Name)]
public sealed class TimeZoneTests
{
    private const string WorkerZone = "Asia/Kolkata";
    private static readonly TimeSpan Safety = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task SubmitAsync_WorkersInAnotherTimeZone_EachKindArrivesAndReturnsExactly()
    {
        using var cache = new TempDirectory();
        await using var cluster = await StartInZoneAsync(WorkerZone, cache.Path);
        var kolkata = TimeZoneInfo.FindSystemTimeZoneById(WorkerZone);
        var local = new DateTime(2024, 1, 2, 7, 8, 9, DateTimeKind.Local);
        var instant = local.ToUniversalTime();
        var onWorker = TimeZoneInfo.ConvertTimeFromUtc(instant, kolkata);

        (await cluster.SubmitAsync(SerializationJobs.See, local).WaitAsync(Safety)).Should()
            .Be($"{onWorker:yyyy-MM-ddTHH:mm:ss.fffffff}+05:30|Local|{instant:O}", "a Local time is the same instant, in the worker's zone");
        (await cluster.SubmitAsync(SerializationJobs.See, new DateTime(2024, 1, 2, 7, 8, 9, DateTimeKind.Unspecified)).WaitAsync(Safety)).Should()
            .Be("2024-01-02T07:08:09.0000000|Unspecified|2024-01-02T01:38:09.0000000Z", "an Unspecified time keeps its clock reading and is not taken as UTC");
        (await cluster.SubmitAsync(SerializationJobs.See, new DateTime(2024, 1, 2, 7, 8, 9, DateTimeKind.Utc)).WaitAsync(Safety)).Should()
            .Be("2024-01-02T07:08:09.0000000Z|Utc|2024-01-02T07:08:09.0000000Z");
        foreach (var kind in new[] { DateTimeKind.Local, DateTimeKind.Unspecified, DateTimeKind.Utc })
        {
            var value = new DateTime(2024, 1, 2, 7, 8, 9, kind);

            var back = await cluster.SubmitAsync(SerializationJobs.Echo, value).WaitAsync(Safety);

            (back.Ticks, back.Kind).Should().Be((value.Ticks, kind));
        }
    }

    /// <summary>Starts a one-worker cluster whose worker process runs with <c>TZ</c> set to <paramref name="zone"/>.</summary>
    private static async Task<Cluster> StartInZoneAsync(string zone, string cache)
    {
        // This process keeps the zone it has: TimeZoneInfo.Local is read, and cached, before TZ changes.
        _ = TimeZoneInfo.Local;
        var before = Environment.GetEnvironmentVariable("TZ");
        Environment.SetEnvironmentVariable("TZ", zone);
        try
        {
            return await Cluster.StartAsync(new ClusterOptions { Workers = 1, Backend = new LocalProcessBackend { CacheDirectory = cache } });
        }
        finally
        {
            Environment.SetEnvironmentVariable("TZ", before);
        }
    }
}
